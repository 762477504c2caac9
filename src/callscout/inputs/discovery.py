"""Find the calls to process (recordings and transcripts) and read their sidecar metadata.

A recording ``call1.wav`` may have a sidecar ``call1.meta.json`` beside it::

    {"customer_id": "K-1001", "account_manager": "Lena Wirtz", "recorded_at": "2026-11-02T10:15:00"}
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from callscout.inputs.transcripts import TRANSCRIPT_SUFFIXES
from callscout.records import CallMeta

AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac", ".mp4", ".webm", ".aac"}
META_SUFFIX = ".meta.json"
META_KEYS = ("customer_id", "account_manager", "recorded_at")
SKIPPED_FOLDERS = {"processed", "failed"}

AUDIO = "audio"
TRANSCRIPT = "transcript"


class InputError(ValueError):
    """A sidecar or setting that cannot be used; the message is one line naming the file."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


@dataclass
class InputFile:
    path: Path
    kind: str  # "audio" or "transcript"
    meta: CallMeta


def is_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(META_SUFFIX)


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if is_sidecar(path):
        return None
    if suffix in AUDIO_SUFFIXES:
        return AUDIO
    if suffix in TRANSCRIPT_SUFFIXES:
        return TRANSCRIPT
    return None


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + META_SUFFIX)


def meta_value(data: dict, key: str, sidecar: str) -> str | None:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{sidecar}: '{key}' must be a string, got {type(value).__name__}")
    if value is None:
        return None
    return value.strip() or None


def checked_recorded_at(value: str | None, sidecar: str) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InputError(f"{sidecar}: 'recorded_at' is not an ISO 8601 date/time: {shown!r}") from None
    return value


# A sidecar holds three short strings; a bigger one is a mistake (or an attack on memory).
MAX_SIDECAR_BYTES = 64 * 1024


def load_sidecar(sidecar: Path) -> dict:
    name = sidecar.name
    try:
        with open(sidecar, "rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
    except OSError as err:
        raise InputError(f"{name}: cannot read sidecar ({err.strerror or type(err).__name__})") from None
    if len(raw) > MAX_SIDECAR_BYTES:
        raise InputError(f"{name}: sidecar larger than {MAX_SIDECAR_BYTES // 1024} KiB; it holds three short fields")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"{name}: sidecar is not valid UTF-8") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{name}: line {err.lineno}: invalid JSON ({err.msg})") from None
    except (ValueError, RecursionError):
        raise InputError(f"{name}: invalid JSON") from None
    if not isinstance(data, dict):
        raise InputError(f"{name}: sidecar must be a JSON object with {', '.join(META_KEYS)}")
    return data


def read_meta(path: Path) -> CallMeta:
    """Metadata from ``NAME.meta.json`` beside ``path``; an empty ``CallMeta`` when there is none."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        return CallMeta()
    if not sidecar.is_file() or sidecar.resolve().parent != path.parent.resolve():
        raise InputError(f"{sidecar.name}: sidecar must be a file in the recording's own folder")
    data = load_sidecar(sidecar)
    values = {key: meta_value(data, key, sidecar.name) for key in META_KEYS}
    values["recorded_at"] = checked_recorded_at(values["recorded_at"], sidecar.name)
    return CallMeta(**values)


def customer_from_name(path: Path, regex: str | re.Pattern[str]) -> str | None:
    """The customer id in a file name: the first group of ``regex`` in the stem, else the whole match."""
    try:
        pattern = re.compile(regex)
    except re.error as err:
        raise InputError(f"bad customer regex {str(regex)!r}: {err}") from None
    match = pattern.search(Path(path).stem)
    if not match:
        return None
    found = match.group(1) if pattern.groups and match.group(1) is not None else match.group(0)
    return found or None


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def files_in(folder: Path) -> list[Path]:
    """Files below ``folder``, sorted, without hidden ones, without processed/ and failed/,
    and without links that lead out of the folder (a shared inbox must not read elsewhere)."""
    found = []
    inside = Path(folder).resolve()
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not is_hidden(d) and d.lower() not in SKIPPED_FOLDERS]
        for name in files:
            path = Path(root) / name
            if is_hidden(name) or is_sidecar(path) or not _stays_inside(path, inside):
                continue
            found.append(path)
    return sorted(found, key=lambda path: path.relative_to(folder).parts)


def _stays_inside(path: Path, folder: Path) -> bool:
    if not path.is_symlink():
        return True
    return path.resolve().is_relative_to(folder)


def unsupported_reason(path: Path) -> str:
    if is_sidecar(path):
        return "metadata sidecar, not a call"
    if not path.suffix:
        return "unsupported file type (no extension)"
    return f"unsupported file type '{path.suffix}'"


def candidates(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(files_in(path))
        elif path.is_file():
            found.append(path)
        elif path.exists():
            skipped.append((path, "not a regular file"))
        else:
            skipped.append((path, "not found"))
    return found, skipped


def discover(paths: list[Path]) -> tuple[list[InputFile], list[tuple[Path, str]]]:
    """Calls in the given files and folders (recursive), and the skipped files with reasons."""
    found, skipped = candidates(paths)
    inputs: list[InputFile] = []
    seen: set[Path] = set()
    for path in found:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        kind = kind_of(path)
        if kind is None:
            skipped.append((path, unsupported_reason(path)))
            continue
        try:
            inputs.append(InputFile(path=path, kind=kind, meta=read_meta(path)))
        except InputError as err:
            skipped.append((path, str(err)))
    return inputs, skipped
