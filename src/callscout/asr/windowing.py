"""The speech of each recording's channels, cut into windows for Whisper's encoder.

The VAD speech of a channel is joined in order into windows of up to ``chunk_seconds``; a window
keeps the sample ranges it joined, so a time in its text maps back to the channel's audio. A
window shorter than 30 s is encoded as its speech and some padding (``encoder_frames``).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
WINDOW_FRAMES = 3000  # Whisper's encoder always sees 30 s
# Unwritten speech at the end of a window of at least FULL_SECONDS, beyond TAIL_SECONDS, is
# decoded again (``asr.batch_decode``'s module doc): on the bench files WER 0.151 -> 0.116 (80 s)
# and 0.135 -> 0.129 (~6 min), for one extra window per recording or less. A shorter window is
# followed by padding, and the model writes its end. VAD pads speech by up to 0.4 s at each end.
FULL_SECONDS = 25.0
TAIL_SECONDS = 1.0
# A window shorter than 30 s is encoded as its speech plus padding, not padded to 30 s: the
# encoder's cost grows faster than its input (2 cores, batch 8: 0.67 s for 30 s, 0.11 s for
# 10 s, 0.22-0.37 s for 20 s). In a long call that is the last window of each channel; a short
# call is all one. Whisper was trained on 30 s inputs, so an output that fails Whisper's own
# fallback thresholds (``doubtful``) is decoded again with the whole 30 s. Measured
# (bench/vocab_results.md, bench/results.md): 8 s of padding kept 14 of 22 product names
# right, as 30 s inputs did; 5 s kept 12, at the same WER and ~10 % less time on short clips.
FRAMES_PER_SECOND = 100
FIT_STEP_SECONDS = 10
FIT_PAD_SECONDS = 8


@dataclass
class Stream:
    """One channel of one recording."""

    recording: Hashable
    samples: np.ndarray
    language: str | None = None  # fixed by the user, or None to detect


@dataclass
class Window:
    stream: int
    spans: list[tuple[int, int]]  # sample ranges of the stream's audio, in order
    repair: bool = False  # the unwritten end of another window, decoded again
    full_context: bool = False  # decoded with a fitted input and doubted: the whole 30 s

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.spans) / SAMPLE_RATE

    def original_time(self, seconds: float) -> float:
        """A time in the window's joined speech, as a time in the stream's audio."""
        position = seconds * SAMPLE_RATE
        for start, end in self.spans:
            if position <= end - start:
                return (start + position) / SAMPLE_RATE
            position -= end - start
        return self.spans[-1][1] / SAMPLE_RATE

    def after(self, seconds: float) -> list[tuple[int, int]]:
        """The window's spans from ``seconds`` (joined-speech time) on."""
        skip = int(seconds * SAMPLE_RATE)
        rest = []
        for start, end in self.spans:
            if skip >= end - start:
                skip -= end - start
                continue
            rest.append((start + skip, end))
            skip = 0
        return rest


def encoder_frames(seconds: float) -> int:
    """The encoder input for a window of ``seconds`` of speech: the speech and at least
    FIT_PAD_SECONDS of padding, in steps of FIT_STEP_SECONDS, at most Whisper's 30 s."""
    fitted = np.ceil((seconds + FIT_PAD_SECONDS) / FIT_STEP_SECONDS) * FIT_STEP_SECONDS
    return int(min(WINDOW_FRAMES, fitted * FRAMES_PER_SECOND))


def unwritten_tail(window: Window, written_to: float) -> bool:
    # A fitted input (``encoder_frames``) gives a window under FULL_SECONDS at least
    # 30 - FULL_SECONDS of padding too, so the rule is the same for both.
    return window.seconds >= FULL_SECONDS and 0 < written_to < window.seconds - TAIL_SECONDS


def speech_windows(stream: int, samples: np.ndarray, chunk_seconds: float) -> list[Window]:
    """The stream's VAD speech, joined in order into windows of at most ``chunk_seconds``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    # faster-whisper's batched settings: no speech run longer than a window.
    options = VadOptions(max_speech_duration_s=chunk_seconds, min_silence_duration_ms=160)
    return packed(stream, [(s["start"], s["end"]) for s in get_speech_timestamps(samples, options)], chunk_seconds)


def stream_windows(streams: list[Stream], chunk_seconds: float, threads: int | None = None) -> list[Window]:
    """The speech windows of every stream, stream by stream.

    The VAD (onnxruntime, one thread per run, the GIL released) reads up to ``threads`` streams
    at once, by default one per core: the two channels of a stereo call or a group's short
    recordings side by side instead of one core reading them all while the other waits (2 cores:
    the bench's 29 clips and a stereo ~6 min call, 31 streams, 2.2-2.4 s -> 1.2-1.4 s)."""
    from concurrent.futures import ThreadPoolExecutor

    from faster_whisper.vad import get_vad_model

    def read(numbered: tuple[int, Stream]) -> list[Window]:
        index, stream = numbered
        return speech_windows(index, stream.samples, chunk_seconds)

    threads = min(threads or available_cores(), len(streams))
    if threads <= 1:
        found = list(map(read, enumerate(streams)))
    else:
        get_vad_model()  # made once, before the threads share it
        with ThreadPoolExecutor(threads, thread_name_prefix="callscout-vad") as pool:
            found = list(pool.map(read, enumerate(streams)))
    return [window for windows in found for window in windows]


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def packed(stream: int, spans: list[tuple[int, int]], chunk_seconds: float) -> list[Window]:
    limit = int(chunk_seconds * SAMPLE_RATE)
    windows: list[Window] = []
    current: list[tuple[int, int]] = []
    length = 0
    for start, end in spans:
        if current and length + end - start > limit:
            windows.append(Window(stream, current))
            current, length = [], 0
        current.append((start, min(end, start + limit)))
        length += min(end - start, limit)
    if current:
        windows.append(Window(stream, current))
    return windows
