"""Speech to text with faster-whisper: one model per run, recordings decoded in shared batches."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from callscout.asr.audio import SAMPLE_RATE, Channel, load_channels
from callscout.asr.guards import guarded
from callscout.asr.int8_model import int8_copy
from callscout.asr.models import default_models_dir, resolve_whisper_model
from callscout.asr.windowing import available_cores
from callscout.config import Config
from callscout.records import CUSTOMER, Segment, Transcript

log = logging.getLogger("callscout")

# Several windows, not just the first 30 s: calls often open with hold music or an IVR.
# faster-whisper detects on the speech its VAD kept, so no second VAD pass is needed.
LANGUAGE_DETECTION_SEGMENTS = 4
# Batched decoding (``asr.batch_decode``, the default), measured on the bench files against bare
# faster-whisper: greedy is as accurate as beam 5 there and faster; 30 s windows with their
# unwritten ends decoded again beat 20 s windows on time (~6 min file: 25.2 -> 21.3 s) at
# WER 0.115-0.160 (bench/results.md). The sequential decoder (``batched = false``) is
# faster-whisper's own beam search, one channel at a time.


AudioProgress = Callable[[float, float], None]  # (seconds of audio decoded, seconds in all)


@dataclass
class Detected:
    language: str
    probability: float


class Transcriber:
    """Loads the Whisper model once (lazily) and transcribes recordings with it."""

    def __init__(self, config: Config, model=None, vocabulary: str | None = None):
        self.config = config
        self._model = model
        self._batch_decoder = None
        # Product names for the decoder prompt (``hotwords``); see ``vocabulary_hint``.
        self.vocabulary = vocabulary
        self._vocabulary_terms = vocabulary_terms(vocabulary) if vocabulary else frozenset()
        self._report_piece: Callable[[float], None] = lambda end: None  # set per channel by ``_sequential``

    @property
    def model(self):
        if self._model is None:
            self._model = self._load_model()
        return self._model

    @property
    def model_name(self) -> str:
        return self.config.whisper_model

    def transcribe_file(self, path: Path) -> Transcript:
        (result,) = self.transcribe_files([path])
        if isinstance(result, Exception):
            raise result
        return result

    def transcribe_files(
        self,
        paths: list[Path],
        before_decoding: Callable[[], None] | None = None,
        on_progress: AudioProgress | None = None,
    ) -> list[Transcript | Exception]:
        """Each recording's transcript, or the error that stopped it; one bad file does not
        stop the others. Batched decoding shares windows between the recordings
        (``asr.batch_decode``), so a group of short calls costs about one encoder pass each.
        ``before_decoding`` is called once the audio is read and the model loaded;
        ``on_progress(seconds_done, seconds_total)`` as the group's audio is decoded."""
        results: list[Transcript | Exception] = []
        loaded: dict[int, list[Channel]] = {}
        for index, path in enumerate(paths):
            try:
                loaded[index] = load_channels(path, self.config.channels)
                results.append(Transcript([]))
            except Exception as exc:  # noqa: BLE001 - reported per file by the pipeline
                results.append(exc)
        if not loaded:
            return results
        report = _progress_reporter(on_progress, [_duration(channels) or 0.0 for channels in loaded.values()])
        try:
            if self.config.batched:
                transcripts = self._batched(loaded, before_decoding, report)
            else:
                self._load_then(before_decoding)
                transcripts = {}
                for number, (i, channels) in enumerate(loaded.items()):
                    transcripts[i] = self._sequential(channels, lambda share, n=number: report(share, n))
        except Exception as exc:  # noqa: BLE001 - the whole group failed in the decoder
            transcripts = {index: exc for index in loaded}
        report(1.0)  # done, also where the last words end before the audio does (or decoding failed)
        for index, transcript in transcripts.items():
            results[index] = transcript
        return results

    def _load_then(self, before_decoding: Callable[[], None] | None) -> None:
        self.model  # noqa: B018 - loaded now, before ``before_decoding`` runs
        if before_decoding:
            before_decoding()

    def _batched(
        self,
        loaded: dict[int, list[Channel]],
        before_decoding: Callable[[], None] | None,
        report: Callable[[float], None],
    ) -> dict[int, Transcript]:
        from callscout.asr.windowing import Stream, stream_windows

        roles: list[str] = []
        streams: list[Stream] = []
        # The customer's channel first: its speech decides the call's language.
        for index, channels in loaded.items():
            for channel in sorted(channels, key=lambda c: c.role != CUSTOMER):
                streams.append(Stream(recording=index, samples=channel.samples, language=self.config.language))
                roles.append(channel.role)
        # The VAD (onnxruntime) runs while the model loads (CTranslate2): neither holds the GIL.
        with ThreadPoolExecutor(1, thread_name_prefix="callscout-model") as pool:
            loading = pool.submit(self._load_then, before_decoding)
            windows = stream_windows(streams, self.config.batch_chunk_seconds)
            loading.result()
        decoded = self.batch_decoder.decode(streams, windows, on_progress=report)
        segments: dict[int, list[Segment]] = {index: [] for index in loaded}
        for number, stream in enumerate(streams):
            segments[stream.recording] += guarded(decoded.pieces[number], roles[number])
        transcripts = {}
        for index, channels in loaded.items():
            language, probability = decoded.languages.get(index, (None, None))
            transcripts[index] = Transcript(
                segments=sorted(segments[index], key=in_time_order),
                language=language,
                duration_s=_duration(channels),
                language_probability=round(probability, 4) if probability is not None else None,
            )
        return transcripts

    @property
    def batch_decoder(self):
        if self._batch_decoder is None:
            from callscout.asr.batch_decode import BatchDecoder

            terms = self._vocabulary_terms
            self._batch_decoder = BatchDecoder(
                self.model,
                batch_size=self.config.batch_size,
                beam_size=self.config.batched_beam_size,
                chunk_seconds=self.config.batch_chunk_seconds,
                fitted=self.config.batch_fitted_windows,
                hotwords=self.vocabulary,
                echoes=lambda text: echoes_vocabulary(text, terms),
                workers=getattr(self.model.model, "num_workers", 1),
            )
        return self._batch_decoder

    def _sequential(self, channels: list[Channel], report: Callable[[float], None] = lambda share: None) -> Transcript:
        """faster-whisper's own sequential decoder (beam search), one channel at a time;
        ``report`` gets the share of the recording decoded (0-1)."""
        detected = Detected(self.config.language, 1.0) if self.config.language else None
        segments: list[Segment] = []
        found = None
        ordered = sorted(channels, key=lambda c: c.role != CUSTOMER)
        for number, channel in enumerate(ordered):
            seconds = len(channel.samples) / SAMPLE_RATE or 1.0
            self._report_piece = lambda end, n=number, s=seconds: report((n + min(1.0, end / s)) / len(ordered))
            pieces, found = self._transcribe_channel(channel, detected)
            if detected is None and pieces:
                detected = found
            segments.extend(pieces)
        detected = detected or found
        segments.sort(key=in_time_order)
        return Transcript(
            segments=segments,
            language=detected.language,
            duration_s=_duration(channels),
            language_probability=round(detected.probability, 4),
        )

    def _transcribe_channel(self, channel: Channel, detected: Detected | None) -> tuple[list[Segment], Detected]:
        segments, found = self._decode(channel, detected, self.vocabulary)
        echoes = [s for s in segments if echoes_vocabulary(s.text, self._vocabulary_terms)]
        if echoes:
            log.info("the decoder echoed the product list; those stretches are decoded again without it")
            plain, _ = self._decode(channel, found, None)
            segments = spliced(segments, echoes, plain)
        return segments, found

    def _decode(self, channel: Channel, detected: Detected | None, hotwords: str | None) -> tuple[list[Segment], Detected]:
        # No hallucination_silence_threshold (it needs word timestamps): with hotwords it took
        # 10x as long on four real German clips (67.8 s vs 6.8 s) and its re-decoding wrote
        # product names nobody said (WER 0.09-0.40 vs 0.00-0.30). VAD, ``doubtless`` and the
        # repetition guard keep silence, noise and hold music out (tests/test_whisper_failures.py).
        pieces, info = self.model.transcribe(
            channel.samples,
            language=detected.language if detected else None,
            language_detection_segments=LANGUAGE_DETECTION_SEGMENTS,
            vad_filter=True,
            condition_on_previous_text=False,
            hotwords=hotwords or None,
            beam_size=self.config.beam_size,
        )
        segments = guarded(self._reported(pieces), channel.role)
        return segments, Detected(info.language, info.language_probability)

    def _reported(self, pieces: Iterable) -> Iterator:
        """faster-whisper's lazy segments, each one's end passed to the progress report."""
        for piece in pieces:
            self._report_piece(piece.end)
            yield piece

    def _load_model(self):
        from faster_whisper import WhisperModel

        device = _device(self.config.device)
        compute_type = self.config.compute_type
        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        path = whisper_model_path(self.config, device, compute_type)
        workers, threads = decoder_threads(device, self.config)
        log.info("loading whisper model %s on %s (%s, %d worker(s))", path, device, compute_type, workers)
        # Built on a thread of its own: built on the main thread, the model's decoding threads
        # waited on each other at every step (1 s of system time) and greedy decoding of the 80 s
        # bench file's three windows took 3.9-7.2 s instead of 2.0 s (tests/test_run_costs.py).
        with ThreadPoolExecutor(1, thread_name_prefix="callscout-model-load") as pool:
            return pool.submit(
                WhisperModel, path, device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers
            ).result()


def whisper_model_path(config: Config, device: str, compute_type: str) -> str:
    """The model folder to load: the configured model, or its int8 copy (``asr.int8_model``) where
    it runs with int8 on the CPU."""
    models_dir = Path(config.models_dir) if config.models_dir else default_models_dir()
    path = resolve_whisper_model(config.whisper_model, models_dir)
    if device == "cpu" and compute_type in ("int8", "int8_float32") and config.int8_model_copy:
        return int8_copy(path, models_dir)
    return path


def decoder_threads(device: str, config: Config, cores: int | None = None) -> tuple[int, int]:
    """CTranslate2 workers, and threads per worker (0: CTranslate2's default), for ``config``.
    One worker unless configured: two single-thread workers, each decoding half of a batch,
    were no faster end to end on 2 cores (bench/results.md). More workers share the cores."""
    if cores is None:
        cores = available_cores()
    workers = max(1, config.num_workers)
    threads = config.cpu_threads or (max(1, cores // workers) if workers > 1 and device == "cpu" else 0)
    return workers, threads


def _progress_reporter(on_progress: AudioProgress | None, durations: list[float]) -> Callable[..., None]:
    """``report(share)`` for the whole group (batched), or ``report(share, n)`` for its n-th
    recording with the ones before it done (sequential), as seconds of the group's audio."""
    total = sum(durations)

    def report(share: float, recording: int | None = None) -> None:
        if on_progress is None:
            return
        if recording is None:
            on_progress(share * total, total)
        else:
            on_progress(sum(durations[:recording]) + share * durations[recording], total)

    return report


def _duration(channels: list[Channel]) -> float:
    return round(max(len(c.samples) for c in channels) / SAMPLE_RATE, 3)


def vocabulary_hint(catalogue) -> str:
    """The catalogue's product names, then their aliases, once each: the words a call about
    these products uses that Whisper's base model is least likely to spell right."""
    words: dict[str, str] = {}
    for product in catalogue.products:
        words.setdefault(product.name.casefold(), product.name)
    for product in catalogue.products:
        for alias in product.aliases:
            words.setdefault(alias.casefold(), alias)
    return ", ".join(words.values())


def vocabulary_terms(vocabulary: str) -> frozenset[str]:
    """The terms of a ``vocabulary_hint``, squeezed for ``echoes_vocabulary``."""
    return frozenset(_squeezed(term) for term in vocabulary.split(",")) - {""}


def echoes_vocabulary(text: str, terms: frozenset[str]) -> bool:
    """Whether a segment reads like the hotword list copied out. On unclear speech the base
    model does that (bench/vocab_bench.py): "Haftpflichtversicherung, Reise-Kreditkarte,"
    (beam search), "Laptop-Tasche, Stavos, Meta-Nemnerungsplan," or "Harben, Miegel,
    Kfz-Versicherung, Fügel, Familien" (greedy). The signs of a list, with a part naming one
    of the ``vocabulary_terms``: a text ending in a comma with two terms, or with a part that
    is nothing but a term; or four or more comma-separated single words."""
    if not terms:
        return False
    parts = [part for part in text.strip().split(",")]
    named = sum(1 for part in parts if any(term in _squeezed(part) for term in terms))
    if not named:
        return False
    if text.rstrip().endswith(","):
        bare_term = any(_squeezed(part) in terms for part in parts)
        return named >= 2 or (bare_term and len(parts) >= 3)
    words = [len(part.split()) for part in parts if part.strip()]
    return len(words) >= 4 and all(n == 1 for n in words)


def spliced(segments: list[Segment], echoes: list[Segment], plain: list[Segment]) -> list[Segment]:
    """``segments`` with each echo replaced by the plain decoding's segments centred in it."""

    def inside(segment: Segment, echo: Segment) -> bool:
        if segment.start is None or echo.start is None:
            return False
        middle = (segment.start + segment.end) / 2
        return echo.start <= middle <= echo.end

    kept = [s for s in segments if s not in echoes]
    kept += [p for p in plain if any(inside(p, echo) for echo in echoes)]
    return sorted(kept, key=in_time_order)


def in_time_order(segment: Segment) -> tuple[float, float]:
    return (segment.start or 0.0, segment.end or 0.0)


def _squeezed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _device(choice: str) -> str:
    if choice != "auto":
        return choice
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 - no CUDA runtime means CPU
        return "cpu"
