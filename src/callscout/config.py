"""Settings: CLI flag, then environment variable, then config file, then default.

The config file is TOML: ``--config FILE``, else ``$CALLSCOUT_CONFIG``, else ``./callscout.toml``.
Environment variables are the upper-cased keys with a ``CALLSCOUT_`` prefix.

All settings are checked together (pydantic, strict) before anything runs; a bad one is a
``ConfigError`` of one line naming the setting, its value, where it came from and what is allowed.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError


class ConfigError(ValueError):
    """A config file or value that cannot be used."""


Device = Literal["auto", "cpu", "cuda"]
ComputeType = Literal[
    "default", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16", "float16", "bfloat16", "float32"
]
Channels = Literal["agent,customer", "customer,agent", "mono"]
Role = Literal["agent", "customer", "unknown"]
CHANNEL_LAYOUTS = get_args(Channels)

# faster_whisper.tokenizer._LANGUAGE_CODES, copied so that importing the config stays fast
# (tests/test_config.py checks that the two agree).
WHISPER_LANGUAGES = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy", "da", "de",
    "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw", "he", "hi", "hr", "ht",
    "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn", "ko", "la", "lb", "ln", "lo", "lt",
    "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn", "no", "oc", "pa", "pl",
    "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta",
    "te", "tg", "th", "tk", "tl", "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)  # fmt: skip


def _whisper_language(code: str) -> str:
    if code not in WHISPER_LANGUAGES:
        raise PydanticCustomError("language", "is not a language code Whisper knows (de, en, fr, ...)")
    return code


Language = Annotated[str, AfterValidator(_whisper_language)]
Positive = Annotated[int, Field(ge=1)]


@dataclass(frozen=True, config=ConfigDict(strict=True))
class Config:
    whisper_model: str = "base"  # size name, or a local CTranslate2 folder
    models_dir: str | None = None
    device: Device = "auto"
    compute_type: ComputeType = "default"  # int8 on CPU, float16 on CUDA
    language: Language | None = None  # None: detect per call
    channels: Channels = "agent,customer"  # stereo: left,right roles; "mono" mixes down
    beam_size: Positive = 5  # sequential decoding (batched = false)
    # Batched decoding of all recordings of a run together (batch_decode.py); false: faster-whisper's
    # sequential beam search, one file at a time (bench/results.md has both).
    batched: bool = True
    # The catalogue's product names and aliases as Whisper hotwords: 16 of 22 names written
    # right instead of 8 on spoken test clips, none invented (bench/vocab_results.md).
    catalogue_hotwords: bool = True
    # Greedy; a window it is unsure of is searched again with beam 5 (batch_decode.UNSURE_LOGPROB).
    batched_beam_size: Positive = 1
    # Windows per encoder/decoder batch. On 2 cores 4-16 were within noise of each other and 2 was
    # slower; memory grows with it (bench/results.md).
    batch_size: Positive = 8
    # Seconds of speech per batched window. Whisper's encoder always reads 30 s, so shorter
    # windows pay for padding (20: ~1.3x the time on the ~6 min bench file).
    batch_chunk_seconds: Annotated[int, Field(ge=1, le=30)] = 30
    # A window under 30 s is encoded as its speech plus at least 8 s of padding (10 s steps), not
    # 30 s: about half the time on short calls at the same WER (batch_decode.py, bench/results.md).
    batch_fitted_windows: bool = True
    # CTranslate2 workers (a batch is split between them, batch_decode.py) and threads per worker
    # (0: CTranslate2's default, or the cores shared between several workers). On 2 cores, 2 x 1
    # and 1 x 2 took the same time end to end (bench/results.md), so one worker is the default.
    num_workers: Positive = 1
    cpu_threads: Annotated[int, Field(ge=0)] = 0
    # glibc: CTranslate2's large buffers from one arena that keeps freed memory (allocator.py):
    # 80 s bench file ~1.5 s faster, the same peak memory. false: malloc as glibc sets it.
    keep_freed_memory: bool = True
    # int8 on the CPU: the model's weights quantized once into a copy in the models dir
    # (int8_model.py), not in every run's model load (whisper base 0.45 -> 0.1 s, same outputs).
    int8_model_copy: bool = True
    encoder: str | None = None  # None: the measured default
    speaker_roles: dict[str, Role] = field(default_factory=dict)  # label -> agent/customer/unknown

    def with_overrides(self, sources: Mapping[str, str] | None = None, **values: object) -> Config:
        """A copy with every value that is not None applied (CLI flags), checked like the rest;
        ``sources`` names where each came from for the error, e.g. ``{"language": "--language"}``."""
        changes = {k: v for k, v in values.items() if v is not None}
        return _checked(lambda: replace(self, **changes), sources or {})


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    file = Path(path) if path else _default_config_file(environ)
    if file is not None:
        for name, value in _read_file(file).items():
            values[name], sources[name] = value, str(file)
    for name, value in _from_environment(environ).items():
        values[name], sources[name] = value, f"environment variable CALLSCOUT_{name.upper()}"
    return _checked(lambda: Config(**values), sources)


def _checked(make: Callable[[], Config], sources: Mapping[str, str]) -> Config:
    try:
        return make()
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], sources)) from None


def _describe(error, sources: Mapping[str, str]) -> str:
    name = error["loc"][0]
    source = sources.get(name, "")
    where = f" from {source}" if source else ""
    setting = ".".join(map(str, error["loc"]))  # speaker_roles.LABEL for one entry of the table
    return f"{setting}: {error['input']!r}{where} {_problem(error, source)}"


def _problem(error, source: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "literal_error":
        choices = {"speaker_roles": Role, "device": Device, "compute_type": ComputeType, "channels": Channels}
        return "is not one of " + ", ".join(get_args(choices[error["loc"][0]]))
    if kind in ("int_type", "int_parsing"):
        return "is not a whole number"
    if kind == "greater_than_equal":
        return f"is less than {ctx['ge']}"
    if kind == "less_than_equal":
        return f"is more than {ctx['le']}"
    if kind == "bool_type":
        return "is not one of " + ", ".join(_BOOL_WORDS) if source.startswith("environment") else "is not true or false"
    if kind == "string_type":
        return "is not a string"
    if kind == "dict_type":
        return "is not a table of label = " + " | ".join(get_args(Role))
    return error["msg"]  # our own checks (language) say what is allowed


def _default_config_file(environ) -> Path | None:
    if env := environ.get("CALLSCOUT_CONFIG"):
        return Path(env)
    local = Path("callscout.toml")
    return local if local.exists() else None


def _read_file(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    known = [f.name for f in fields(Config)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(known))}"
            raise ConfigError(f"{path}: unknown setting '{key}' ({hint})")
    return data


_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _from_environment(environ) -> dict[str, object]:
    values: dict[str, object] = {}
    for f in fields(Config):
        raw = environ.get(f"CALLSCOUT_{f.name.upper()}")
        if raw is None or f.name == "speaker_roles":
            continue
        values[f.name] = _coerce(f.default, raw)
    return values


def _coerce(default: object, raw: str) -> object:
    """``raw`` as the default's type; a string that is not one stays a string, for the check to
    refuse with its source."""
    if isinstance(default, bool):
        return _BOOL_WORDS.get(raw.strip().lower(), raw)
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw
