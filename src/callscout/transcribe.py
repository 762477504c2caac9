"""Speech to text with faster-whisper: one model per run, one pass per speaker channel."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from callscout.audio import SAMPLE_RATE, Channel, load_channels, mix
from callscout.config import Config
from callscout.models import resolve_whisper_model
from callscout.records import Segment, Transcript

log = logging.getLogger("callscout")

# Several windows, not just the first 30 s: calls often open with hold music or an IVR.
LANGUAGE_DETECTION_SEGMENTS = 4
# A word n-gram said more often than this in a row is a decoding loop, not speech.
MAX_REPEATS = 3
MAX_LOOP_WORDS = 8
# Skip silent stretches longer than this (s) around a likely hallucination (needs word timestamps).
HALLUCINATION_SILENCE_THRESHOLD = 2.0
# Below this length a recording is decoded sequentially: batching pays only when there are
# several 30 s windows to batch (bench/results.md: short clips were slower batched).
BATCHED_MIN_SECONDS = 60.0
BATCH_CHUNK_SECONDS = 20


@dataclass
class Detected:
    language: str
    probability: float


class Transcriber:
    """Loads the Whisper model once (lazily) and transcribes recordings with it."""

    def __init__(self, config: Config, model=None):
        self.config = config
        self._model = model
        self._batched = None

    @property
    def model(self):
        if self._model is None:
            self._model = self._load_model()
        return self._model

    @property
    def model_name(self) -> str:
        return self.config.whisper_model

    def transcribe_file(self, path: Path) -> Transcript:
        channels = load_channels(path, self.config.channels)
        duration = max(len(c.samples) for c in channels) / SAMPLE_RATE
        detected = self._language(channels)
        segments = [s for channel in channels for s in self._transcribe_channel(channel, detected.language)]
        segments.sort(key=lambda s: (s.start or 0.0, s.end or 0.0))
        return Transcript(
            segments=segments,
            language=detected.language,
            duration_s=round(duration, 3),
            language_probability=round(detected.probability, 4),
        )

    def _language(self, channels: list[Channel]) -> Detected:
        if self.config.language:
            return Detected(self.config.language, 1.0)
        language, probability, _ = self.model.detect_language(
            mix(channels), vad_filter=True, language_detection_segments=LANGUAGE_DETECTION_SEGMENTS
        )
        return Detected(language, probability)

    def _transcribe_channel(self, channel: Channel, language: str) -> list[Segment]:
        batched = self.config.batched and len(channel.samples) / SAMPLE_RATE >= BATCHED_MIN_SECONDS
        pieces, _info = self._engine(batched).transcribe(
            channel.samples,
            language=language,
            beam_size=self.config.beam_size,
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
            **self._engine_options(batched),
        )
        return without_repetitions(
            Segment(speaker=channel.role, text=p.text.strip(), start=round(p.start, 2), end=round(p.end, 2))
            for p in pieces
            if p.text.strip()
        )

    def _engine_options(self, batched: bool) -> dict:
        if batched:
            # On the ~6 min German bench file, one run each: 30 s chunks without timestamp
            # tokens (faster-whisper's default) WER 0.219, with them 0.208; 20 s chunks with
            # them 0.119 alone, 0.195 in bench/results.md (runs vary with temperature fallback;
            # bare default 0.124-0.145). It has no hallucination_silence_threshold:
            # its VAD and the repetition guard below keep silence and hold music out.
            return {"batch_size": self.config.batch_size, "without_timestamps": False, "chunk_length": BATCH_CHUNK_SECONDS}
        return {"hallucination_silence_threshold": HALLUCINATION_SILENCE_THRESHOLD}

    def _engine(self, batched: bool):
        if not batched:
            return self.model
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(model=self.model)
        return self._batched

    def _load_model(self):
        from faster_whisper import WhisperModel

        models_dir = Path(self.config.models_dir) if self.config.models_dir else None
        path = resolve_whisper_model(self.config.whisper_model, models_dir)
        device = _device(self.config.device)
        compute_type = self.config.compute_type
        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        log.info("loading whisper model %s on %s (%s)", path, device, compute_type)
        return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=self.config.cpu_threads)


def _device(choice: str) -> str:
    if choice != "auto":
        return choice
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 - no CUDA runtime means CPU
        return "cpu"


# repetition guard


def without_repetitions(segments) -> list[Segment]:
    """Cut decoding loops: collapse a phrase repeated more than ``MAX_REPEATS`` times in a
    row to one, drop a segment that repeats the one before it over the same stretch of
    audio, and drop segments without a single word (the base model writes "..." for a
    tone when VAD is off).

    The same words said again later are speech, not a loop: dropping every repeated
    segment cut seven real "Mist, wieder nichts geschafft." takes from the ~6 min bench
    file and raised its WER from 0.119 to 0.195.
    """
    kept: list[Segment] = []
    for segment in segments:
        text = collapse_loops(segment.text)
        if not _normalised(text.split()):  # "..." or "♪": no word at all
            continue
        if kept and _same_words_same_audio(segment, text, kept[-1]):
            log.debug("dropped a segment repeating the previous one at %.1f s", segment.start or 0.0)
            continue
        kept.append(replace(segment, text=text))
    return kept


def _same_words_same_audio(segment: Segment, text: str, previous: Segment) -> bool:
    if _normalised(text.split()) != _normalised(previous.text.split()):
        return False
    if segment.start is None or previous.end is None:
        return True
    return segment.start < previous.end


def collapse_loops(text: str, max_repeats: int = MAX_REPEATS) -> str:
    """``"ja und dann und dann und dann und dann gut"`` -> ``"ja und dann gut"``."""
    words = text.split()
    for size in range(1, MAX_LOOP_WORDS + 1):
        words = _collapse(words, size, max_repeats)
    return " ".join(words)


def _collapse(words: list[str], size: int, max_repeats: int) -> list[str]:
    kept: list[str] = []
    index = 0
    while index < len(words):
        repeats = _repeats_at(words, index, size, max_repeats)
        if repeats > max_repeats:
            kept.extend(words[index : index + size])
            index += repeats * size
        else:
            kept.append(words[index])
            index += 1
    return kept


def _repeats_at(words: list[str], index: int, size: int, max_repeats: int) -> int:
    gram = _normalised(words[index : index + size])
    if len(words) - index < size * (max_repeats + 1) or not gram:
        return 1
    repeats = 1
    while _normalised(words[index + repeats * size : index + (repeats + 1) * size]) == gram:
        repeats += 1
    return repeats


def _normalised(words: list[str]) -> tuple[str, ...]:
    return tuple(w for w in (re.sub(r"[^\w]", "", word.lower()) for word in words) if w)
