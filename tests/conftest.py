import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = ROOT / "fixtures"

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def _empty_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "empty.toml"
    path.write_text("")
    return path


@pytest.fixture(autouse=True)
def _isolated_config(_empty_config, monkeypatch):
    """No user config or environment leaks into a test."""
    for name in list(os.environ):
        if name.startswith("CALLSCOUT_") and name != "CALLSCOUT_MODELS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLSCOUT_CONFIG", str(_empty_config))


@pytest.fixture(scope="session")
def transcriber():
    """The real faster-whisper base model, loaded once for the whole test session."""
    from callscout.asr.transcribe import Transcriber
    from callscout.config import Config

    return Transcriber(Config())
