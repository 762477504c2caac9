"""Settings: CLI flag, then environment variable, then config file, then default.

The config file is TOML: ``--config FILE``, else ``$CALLSCOUT_CONFIG``, else ``./callscout.toml``.
Environment variables are the upper-cased keys with a ``CALLSCOUT_`` prefix.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


class ConfigError(ValueError):
    """A config file or value that cannot be used."""


CHANNEL_LAYOUTS = ("agent,customer", "customer,agent", "mono")


@dataclass(frozen=True)
class Config:
    whisper_model: str = "base"  # size name, or a local CTranslate2 folder
    models_dir: str | None = None
    device: str = "auto"  # auto, cpu or cuda
    compute_type: str = "default"  # int8 on CPU, float16 on CUDA
    language: str | None = None  # None: detect per call
    channels: str = "agent,customer"  # stereo: left,right roles; "mono" mixes down
    beam_size: int = 5  # sequential decoding (batched = false)
    # Batched decoding of all recordings of a run together (batch_decode.py); false: faster-whisper's
    # sequential beam search, one file at a time (bench/results.md has both).
    batched: bool = True
    # The catalogue's product names and aliases as Whisper hotwords: 16 of 22 names written
    # right instead of 8 on spoken test clips, none invented (bench/vocab_results.md).
    catalogue_hotwords: bool = True
    # Greedy; a window it is unsure of is searched again with beam 5 (batch_decode.UNSURE_LOGPROB).
    batched_beam_size: int = 1
    # Windows per encoder/decoder batch. On 2 cores 4-16 were within noise of each other and 2 was
    # slower; memory grows with it (bench/results.md).
    batch_size: int = 8
    # Seconds of speech per batched window. Whisper's encoder always reads 30 s, so shorter
    # windows pay for padding (20: ~1.3x the time on the ~6 min bench file).
    batch_chunk_seconds: int = 30
    # A window under 30 s is encoded as its speech plus at least 8 s of padding (10 s steps), not
    # 30 s: about half the time on short calls at the same WER (batch_decode.py, bench/results.md).
    batch_fitted_windows: bool = True
    # CTranslate2 workers (a batch is split between them, batch_decode.py) and threads per worker
    # (0: CTranslate2's default, or the cores shared between several workers). On 2 cores, 2 x 1
    # and 1 x 2 took the same time end to end (bench/results.md), so one worker is the default.
    num_workers: int = 1
    cpu_threads: int = 0
    # glibc: CTranslate2's large buffers from one arena that keeps freed memory (allocator.py):
    # 80 s bench file ~1.5 s faster, the same peak memory. false: malloc as glibc sets it.
    keep_freed_memory: bool = True
    # int8 on the CPU: the model's weights quantized once into a copy in the models dir
    # (int8_model.py), not in every run's model load (whisper base 0.45 -> 0.1 s, same outputs).
    int8_model_copy: bool = True
    encoder: str | None = None  # None: the measured default
    speaker_roles: dict[str, str] = field(default_factory=dict)  # label -> agent/customer/unknown

    def with_overrides(self, **values: object) -> Config:
        """A copy with every value that is not None applied (CLI flags)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    file = Path(path) if path else _default_config_file(environ)
    if file is not None:
        values.update(_read_file(file))
    values.update(_from_environment(environ))
    _check(values)
    return Config(**values)


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
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting '{unknown[0]}' (known: {', '.join(sorted(known))})")
    return data


def _from_environment(environ) -> dict[str, object]:
    values: dict[str, object] = {}
    for f in fields(Config):
        raw = environ.get(f"CALLSCOUT_{f.name.upper()}")
        if raw is None or f.name == "speaker_roles":
            continue
        values[f.name] = _coerce(f.name, raw)
    return values


def _coerce(name: str, raw: str) -> object:
    default = getattr(Config(), name)
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"CALLSCOUT_{name.upper()}: not a whole number: {raw!r}") from exc
    return raw


def _check(values: dict[str, object]) -> None:
    channels = values.get("channels")
    if channels is not None and channels not in CHANNEL_LAYOUTS:
        raise ConfigError(f"channels: '{channels}' is not one of {', '.join(CHANNEL_LAYOUTS)}")
    roles = values.get("speaker_roles", {})
    if not isinstance(roles, dict) or any(r not in ("agent", "customer", "unknown") for r in roles.values()):
        raise ConfigError("speaker_roles: expected a table of label = \"agent\" | \"customer\" | \"unknown\"")
