"""An int8 copy of a float CTranslate2 Whisper model, made once in the models dir.

Loaded for int8 on the CPU, a float16 model is quantized by CTranslate2 in every run: each
weight matrix row by row (scale = 127 / max |w|, rounded), the other float variables widened to
float32. For whisper base that is 0.45 s of the load (0.63 s of CPU) on 2 cores, on the path
to the first encoder pass. This module writes the same values into a model of its own once, so
later loads only read them (0.1 s): CTranslate2's outputs from the copy are bit-identical
(tests/test_int8_model.py).

The format is CTranslate2's ``model.bin``, binary version 6, as ``ctranslate2.specs`` writes it:
a header, then each variable's name, shape, type and bytes, then the aliases. Variables are
read and written one at a time, so a large model never sits in memory whole.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from callscout.staging import is_up_to_date, staged_folder

log = logging.getLogger("callscout")

BINARY_VERSION = 6
# CTranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 has no numpy type.
DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16)
COPIES_DIR = "int8"


class UnsupportedModel(ValueError):
    """A model.bin this module does not rewrite (another binary version, bfloat16, not Whisper)."""


def int8_copy(model_dir: str | Path, models_dir: Path) -> str:
    """``model_dir``'s int8 copy under ``models_dir``, made when missing or older than the
    model; ``model_dir`` itself where the model needs none (already int8) or no copy can be made."""
    source = Path(model_dir)
    target = copy_folder(source, models_dir)
    try:
        if not _up_to_date(target, source):
            write_int8_copy(source, target)
        return str(target)
    except (OSError, UnsupportedModel, struct.error) as exc:
        log.debug("loading %s as it is: no int8 copy (%s)", source, exc)
        return str(source)


def copy_folder(model_dir: str | Path, models_dir: Path) -> Path:
    """Where ``model_dir``'s int8 copy lies (or will): named after the model's folder and path."""
    source = Path(model_dir)
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:10]
    return models_dir / COPIES_DIR / f"{source.name}-{digest}"


def write_int8_copy(source: Path, target: Path) -> None:
    """Write the int8 model at ``target`` (whole or not at all: staged, then renamed)."""
    with staged_folder(target) as staged:
        with open(source / "model.bin", "rb") as reader, open(staged.path / "model.bin", "wb") as writer:
            _rewrite(reader, writer)
        for other in source.iterdir():
            if other.is_file() and other.name != "model.bin" and not other.name.startswith("."):
                shutil.copyfile(other, staged.path / other.name)
        if _up_to_date(target, source):  # another run made it meanwhile, and may be loading it
            return
        staged.swap_in()
        log.info("wrote an int8 copy of %s to %s", source, target)


def _up_to_date(target: Path, source: Path) -> bool:
    """Whether the copy folder ``target`` holds a model.bin and is not older than ``source``'s."""
    return (target / "model.bin").exists() and is_up_to_date(target, source / "model.bin")


def _rewrite(reader: BinaryIO, writer: BinaryIO) -> None:
    """Copy the model from ``reader`` to ``writer`` with its weights quantized."""
    spec, revision, count = _header(reader)
    if spec != "WhisperSpec":
        raise UnsupportedModel(f"a {spec}, not a Whisper model")

    writer.write(struct.pack("I", BINARY_VERSION))
    _write_string(writer, spec)
    writer.write(struct.pack("I", revision))
    count_at = writer.tell()
    writer.write(struct.pack("I", 0))  # the variables' count, known once they are written
    written = 0
    for name, value in _variables(reader, count):
        quantizable = _quantizable(name)
        if quantizable and value.dtype not in (np.float16, np.float32):
            raise UnsupportedModel(f"its weights are {value.dtype} already")  # before writing the rest
        if quantizable and value.ndim >= 2:
            weights, scale = quantize_rows(value)
            _write_variable(writer, name, weights)
            _write_variable(writer, f"{name}_scale", scale)
            written += 2
        else:
            _write_variable(writer, name, value.astype(np.float32) if value.dtype == np.float16 else value)
            written += 1
    aliases = [(_read_string(reader), _read_string(reader)) for _ in range(_unpack(reader, "I"))]
    writer.write(struct.pack("I", len(aliases)))
    for alias, name in aliases:
        _write_string(writer, alias)
        _write_string(writer, name)
    writer.seek(count_at)
    writer.write(struct.pack("I", written))


def _quantizable(name: str) -> bool:
    # CTranslate2's WhisperModel::is_quantizable: every "...weight" but the convolutions'.
    return name.endswith("weight") and "conv" not in name


def quantize_rows(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and their float32 scale per row, as CTranslate2 computes them."""
    rows = value.astype(np.float32).reshape(value.shape[0], -1)
    amax = np.abs(rows).max(axis=1)
    amax[amax == 0] = 127.0
    scale = (np.float32(127.0) / amax).astype(np.float32)
    weights = np.rint(rows * scale[:, None]).astype(np.int8).reshape(value.shape)
    return weights, scale


def read_variables(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a model.bin by name (for tests and inspection)."""
    with open(path, "rb") as reader:
        _, _, count = _header(reader)
        return dict(_variables(reader, count))


def _header(reader: BinaryIO) -> tuple[str, int, int]:
    """The model's spec name, its revision and how many variables follow."""
    version = _unpack(reader, "I")
    if version != BINARY_VERSION:
        raise UnsupportedModel(f"model.bin binary version {version}, not {BINARY_VERSION}")
    return _read_string(reader), _unpack(reader, "I"), _unpack(reader, "I")


def _variables(reader: BinaryIO, count: int) -> Iterator[tuple[str, np.ndarray]]:
    for _ in range(count):
        name = _read_string(reader)
        rank = _unpack(reader, "B")
        shape = struct.unpack(f"{rank}I", reader.read(4 * rank))
        type_id = _unpack(reader, "B")
        if type_id >= len(DTYPES):
            raise UnsupportedModel(f"{name}: data type {type_id} (bfloat16?)")
        size = _unpack(reader, "I")
        data = reader.read(size)
        if len(data) != size:
            raise UnsupportedModel(f"{name}: the file ends inside it")
        yield name, np.frombuffer(data, dtype=DTYPES[type_id]).reshape(shape)


def _write_variable(writer: BinaryIO, name: str, value: np.ndarray) -> None:
    _write_string(writer, name)
    writer.write(struct.pack("B", value.ndim))
    writer.write(struct.pack(f"{value.ndim}I", *value.shape))
    data = np.array(value, order="C").tobytes()  # np.array keeps a scalar 0-d; ascontiguousarray would not
    writer.write(struct.pack("B", DTYPES.index(value.dtype.type)))
    writer.write(struct.pack("I", len(data)))
    writer.write(data)


def _unpack(reader: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, reader.read(size))[0]


def _read_string(reader: BinaryIO) -> str:
    length = _unpack(reader, "H")
    return reader.read(length)[:-1].decode("utf-8")  # stored with its terminating NUL


def _write_string(writer: BinaryIO, text: str) -> None:
    encoded = text.encode("utf-8")
    writer.write(struct.pack("H", len(encoded) + 1) + encoded + b"\0")
