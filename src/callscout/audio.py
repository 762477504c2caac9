"""Decoding recordings into 16 kHz float arrays, one per speaker channel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SAME_SIGNAL_CORRELATION = 0.98


class AudioError(ValueError):
    """A recording that cannot be decoded."""


@dataclass
class Channel:
    role: str  # agent, customer or unknown
    samples: np.ndarray


def count_channels(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise AudioError(f"{path.name}: no audio track")
            return streams[0].codec_context.channels or 1
    except av.error.FFmpegError as exc:
        raise AudioError(f"{path.name}: cannot decode audio ({_reason(exc)})") from exc


def duration_seconds(path: Path) -> float:
    """The recording's length from its container header, without decoding it."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return container.duration / av.time_base
            stream = container.streams.audio[0]
            return float(stream.duration * stream.time_base) if stream.duration else 0.0
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioError(f"{path.name}: cannot decode audio ({_reason(exc)})") from exc


def load_channels(path: Path, layout: str = "agent,customer") -> list[Channel]:
    """Stereo calls give one channel per role (``layout`` = left,right); mono gives ``unknown``."""
    stereo = layout != "mono" and count_channels(path) >= 2
    try:
        from faster_whisper import decode_audio

        decoded = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=stereo)
    except AudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types for damaged files
        raise AudioError(f"{path.name}: cannot decode audio ({_reason(exc)})") from exc
    if not stereo:
        return [Channel("unknown", _checked(decoded, path))]
    left, right = (_checked(c, path) for c in decoded)
    if _same_signal(left, right):
        return [Channel("unknown", left)]
    left_role, right_role = layout.split(",")
    return [Channel(left_role, left), Channel(right_role, right)]


def _checked(samples: np.ndarray, path: Path) -> np.ndarray:
    if samples.size == 0:
        raise AudioError(f"{path.name}: no audio samples (empty or truncated file)")
    return samples


def _same_signal(left: np.ndarray, right: np.ndarray) -> bool:
    """A mono recording stored as two (nearly) identical channels is no agent/customer split."""
    length = min(len(left), len(right))
    left, right = left[:length], right[:length]
    if length == 0 or not left.any() or not right.any():
        return not (left.any() or right.any())
    return float(np.corrcoef(left, right)[0, 1]) > SAME_SIGNAL_CORRELATION


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__
