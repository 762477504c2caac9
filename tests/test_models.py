import hashlib

import pytest

from callscout.asr.models import ModelError, expected_checksums, install_base, list_models, resolve_whisper_model


def test_checksums_in_models_dir_match_package_copy():
    from importlib import resources

    from tests.conftest import ROOT

    packaged = resources.files("callscout.data").joinpath("whisper-base.sha256").read_text()
    assert (ROOT / "models" / "whisper-base.sha256").read_text() == packaged
    assert set(expected_checksums(ROOT / "models")) == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}


def test_unknown_model_gives_one_line_hint_without_download(tmp_path):
    with pytest.raises(ModelError) as info:
        resolve_whisper_model("large-v3", tmp_path)
    message = str(info.value)
    assert "not on this machine" in message and "whisper-large-v3" in message and "\n" not in message


def test_local_folder_must_hold_a_model(tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(ModelError, match="no model.bin"):
        resolve_whisper_model(str(tmp_path / "mine"), tmp_path)
    (tmp_path / "mine" / "model.bin").write_bytes(b"x")
    assert resolve_whisper_model(str(tmp_path / "mine"), tmp_path) == str(tmp_path / "mine")


def test_named_folder_under_models_dir(tmp_path):
    folder = tmp_path / "whisper-small"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"x")
    assert resolve_whisper_model("small", tmp_path) == str(folder)
    names = {info.name: info.ready for info in list_models(tmp_path)}
    assert names["small"] is True and names["base"] is False


@pytest.mark.slow
def test_install_base_joins_parts_and_verifies(tmp_path):
    (tmp_path / "whisper-base.sha256").write_text(
        (__import__("tests.conftest", fromlist=["ROOT"]).ROOT / "models" / "whisper-base.sha256").read_text()
    )
    target = install_base(tmp_path)
    digest = hashlib.sha256((target / "model.bin").read_bytes()).hexdigest()
    assert digest == expected_checksums(tmp_path)["model.bin"]
    assert list_models(tmp_path)[0].ready
    # A damaged file is detected and repaired on the next install.
    (target / "config.json").write_text("{}")
    (target / ".verified").unlink()
    assert not list_models(tmp_path)[0].ready
    install_base(tmp_path)
    assert list_models(tmp_path)[0].ready
