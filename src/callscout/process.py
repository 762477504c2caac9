"""The orchestrator: each input file goes through the stages in order and into the store.

discover -> read (transcript parser or faster-whisper) -> extract signals -> match
opportunities -> redact identifiers -> store, one transaction per call.

Extraction reads the unredacted text in memory; identifiers are redacted before anything
is written. A call is marked ``processing`` before its work starts and replaced by its
complete result (or a ``failed`` row) after; a run killed in between leaves it
``processing``, and the next run processes it again. Error lines that are stored or logged
name the file and the problem but never quote transcript text.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from callscout.asr.audio import AudioError
from callscout.asr.models import ModelError
from callscout.config import Config
from callscout.extract.encoders import EncoderError
from callscout.inputs.discovery import InputError, InputFile, customer_from_name, discover
from callscout.inputs.transcripts import TranscriptError
from callscout.match.catalogue import Catalogue
from callscout.records import CUSTOMER, CallRecord, CallResult, Segment, Transcript
from callscout.redact.identifiers import redact_result
from callscout.staging import file_sha256
from callscout.store.database import Store
from callscout.store.rows import call_id_for

log = logging.getLogger("callscout")

# About 150,000 words, some 15 hours of talk. Parsing is fast at any size, but extraction
# takes ~5 ms per segment: a 10 MB transcript (130,000 segments) would hold a batch for
# over ten minutes, so such a file is refused with one line instead.
MAX_TRANSCRIPT_BYTES = 1 << 20


@dataclass
class FileOutcome:
    path: Path
    status: str  # done, failed, unchanged or skipped
    call_id: str | None = None
    error: str | None = None
    language: str | None = None
    duration_s: float | None = None
    opportunities: list[str] = field(default_factory=list)  # product ids
    seconds: float = 0.0
    read_seconds: float = 0.0  # transcription, or parsing a transcript
    extract_seconds: float = 0.0  # extraction and matching


@dataclass
class RunSummary:
    outcomes: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def seconds(self, stage: str) -> float:
        """Total time of one stage (``read`` or ``extract``) over the run's files."""
        return sum(getattr(o, f"{stage}_seconds") for o in self.outcomes)

    @property
    def all_failed(self) -> bool:
        tried = [o for o in self.outcomes if o.status != "skipped"]
        return bool(tried) and all(o.status == "failed" for o in tried)


class Pipeline:
    """Holds the loaded models for one run; ``transcriber``/``extractor`` may be injected."""

    def __init__(self, config: Config, catalogue: Catalogue, store: Store, transcriber=None, extractor=None):
        self.config = config
        self.catalogue = catalogue
        self.store = store
        self._transcriber = transcriber
        self._extractor = extractor
        self._warming: threading.Thread | None = None
        # Recordings transcribed together with an earlier one (``_transcribe_group``):
        # path -> (transcript or its error, this recording's share of the group's seconds).
        self._transcribed: dict[Path, tuple[Transcript | Exception, float]] = {}
        self._upcoming: list[InputFile] = []
        # Called as a group of recordings is decoded: (their paths, audio seconds done, in all).
        self.on_audio_progress: Callable[[list[Path], float, float], None] | None = None

    @property
    def transcriber(self):
        if self._transcriber is None:
            from callscout.asr.transcribe import Transcriber, vocabulary_hint

            vocabulary = vocabulary_hint(self.catalogue) if self.config.catalogue_hotwords else None
            self._transcriber = Transcriber(self.config, vocabulary=vocabulary)
        return self._transcriber

    @property
    def extractor(self):
        if self._extractor is None:
            from callscout.asr.models import default_models_dir
            from callscout.extract import Extractor, load_encoder

            models_dir = self.config.models_dir or default_models_dir()
            self._extractor = Extractor(encoder=load_encoder(self.config.encoder, models_dir))
        return self._extractor

    def run(
        self,
        paths: Iterable[Path],
        customer_pattern: str | None = None,
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> RunSummary:
        inputs, skipped = discover(list(paths))
        # In recording order, so a customer's earlier call (a decline, an open opportunity)
        # is in the store before the contact policy judges a later one.
        inputs.sort(key=lambda item: (item.meta.recorded_at or "", str(item.path)))
        summary = RunSummary([FileOutcome(path, "skipped", error=reason) for path, reason in skipped])
        for index, item in enumerate(inputs):
            self._upcoming = inputs[index + 1 :]
            outcome = self.process_file(item, customer_pattern)
            summary.outcomes.append(outcome)
            if on_file:
                on_file(outcome)
        return summary

    def process_file(self, item: InputFile, customer_pattern: str | None = None) -> FileOutcome:
        started = time.perf_counter()
        record = None
        try:
            record = self._new_record(item, customer_pattern)
            if self._already_done(record):
                return FileOutcome(item.path, "unchanged", call_id=record.id, seconds=time.perf_counter() - started)
            self.store.mark_processing(record)
            read_started = time.perf_counter()
            transcript, read_seconds = self._read(item, customer_pattern)
            extract_started = time.perf_counter()
            result = self.analyse(transcript)
            extracted = time.perf_counter()
            self._save(record, result)
            outcome = self._done(item, record, result, time.perf_counter() - started)
            outcome.read_seconds = read_seconds if read_seconds is not None else extract_started - read_started
            outcome.extract_seconds = extracted - extract_started
            _log_stages(outcome, result)
            return outcome
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            return self._failed(item, record, exc, time.perf_counter() - started)

    def _save(self, record: CallRecord, result: CallResult) -> None:
        transcript = result.transcript
        record.language = transcript.language
        record.language_probability = transcript.language_probability
        record.duration_s = transcript.duration_s
        record.sensitive = any(s.kind == "sensitive" for s in result.signals)
        self.store.save_call(record, redact_result(result), policy=self.catalogue.policy)

    def _done(self, item: InputFile, record: CallRecord, result: CallResult, seconds: float) -> FileOutcome:
        transcript = result.transcript
        return FileOutcome(
            item.path,
            "done",
            call_id=record.id,
            language=transcript.language,
            duration_s=transcript.duration_s,
            opportunities=[o.product_id for o in result.opportunities],
            seconds=seconds,
        )

    def _warm_up_in_background(self) -> None:
        """Load the encoder, spaCy and the catalogue's need embeddings while the first
        recording is transcribed, instead of after it (bench/results.md: stage times)."""
        if self._warming is not None or self._extractor is not None:
            return

        def warm_up() -> None:
            try:
                greeting = Segment(CUSTOMER, "Guten Tag." if self.catalogue.language == "de" else "Hello.")
                self.extractor.extract(Transcript([greeting], self.catalogue.language), self.catalogue)
            except Exception as exc:  # noqa: BLE001 - the real extraction will report it
                log.debug("warm-up failed: %s", exc)

        self._warming = threading.Thread(target=warm_up, name="callscout-warm-up", daemon=True)
        self._warming.start()

    def analyse(self, transcript: Transcript) -> CallResult:
        from callscout.extract import guess_language
        from callscout.inputs.roles import assign_roles
        from callscout.match.opportunities import match_opportunities

        if self._warming is not None:
            self._warming.join()
            self._warming = None

        if not transcript.language:
            transcript.language = guess_language(" ".join(s.text for s in transcript.segments))
        assign_roles(transcript)  # labels, channels, or inferred from the dialogue (``roles``)
        signals = self.extractor.extract(transcript, self.catalogue)
        opportunities = match_opportunities(signals, self.catalogue)
        return CallResult(transcript=transcript, signals=signals, opportunities=opportunities)

    def _read(self, item: InputFile, customer_pattern: str | None) -> tuple[Transcript, float | None]:
        """The transcript, and the seconds it took where it was read with other files."""
        if item.kind == "audio":
            if item.path not in self._transcribed:
                self._transcribe_group(item, customer_pattern)
            result, seconds = self._transcribed.pop(item.path)
            if isinstance(result, Exception):
                raise result
            return result, seconds
        from callscout.inputs.transcripts import parse_transcript

        check_transcript_size(item.path)
        return parse_transcript(item.path, self.config.speaker_roles), None

    def _transcribe_group(self, item: InputFile, customer_pattern: str | None) -> None:
        """Transcribe ``item`` with the next recordings of the run that still need it, so
        short calls share the decoder's batches (``asr.batch_decode``)."""
        group = [item] + self._group_followers(item, customer_pattern)
        started = time.perf_counter()
        # The warm-up (pure Python, holding the GIL) starts once the audio is read and the model
        # loaded: beside them, every short GIL hand-over of PyAV and CTranslate2 waited for it.
        paths = [i.path for i in group]
        report = self.on_audio_progress
        progress = (lambda done, total: report(paths, done, total)) if report is not None else None
        results = self.transcriber.transcribe_files(paths, before_decoding=self._warm_up_in_background, on_progress=progress)
        seconds = time.perf_counter() - started
        durations = [(r.duration_s or 0.0) if isinstance(r, Transcript) else 0.0 for r in results]
        total = sum(durations)
        for member, result, duration in zip(group, results, durations):
            share = duration / total if total else 1 / len(group)
            self._transcribed[member.path] = (result, seconds * share)

    def _group_followers(self, item: InputFile, customer_pattern: str | None) -> list[InputFile]:
        """The recordings after ``item`` that fit in one group: about ``batch_size`` windows of
        audio in all, so a group's audio stays small in memory; none that is already stored."""
        from callscout.asr.audio import duration_seconds

        budget = self.config.batch_size * self.config.batch_chunk_seconds
        try:
            total = duration_seconds(item.path)
        except Exception:  # noqa: BLE001 - reading it will report the problem
            return []
        followers = []
        for upcoming in self._upcoming:
            if upcoming.kind != "audio" or upcoming.path in self._transcribed:
                continue
            try:
                if self._already_done(self._new_record(upcoming, customer_pattern)):
                    continue
                duration = duration_seconds(upcoming.path)
            except Exception:  # noqa: BLE001 - it fails on its own turn, with its own error
                continue
            if total + duration > budget:
                break
            followers.append(upcoming)
            total += duration
        return followers

    def _new_record(self, item: InputFile, customer_pattern: str | None) -> CallRecord:
        check_regular_file(item.path)
        sha = file_sha256(item.path)
        customer = item.meta.customer_id
        if customer is None and customer_pattern:
            customer = customer_from_name(item.path, customer_pattern)
        return CallRecord(
            id=call_id_for(sha),
            source_path=str(item.path),
            source_sha256=sha,
            status="processing",
            customer_id=customer,
            account_manager=item.meta.account_manager,
            recorded_at=item.meta.recorded_at,
            catalogue=self.catalogue.name,
            model=self.config.whisper_model if item.kind == "audio" else None,
            processed_at=_now(),
        )

    def _already_done(self, record: CallRecord) -> bool:
        return self.store.has_result(record.id, record.catalogue)

    def _failed(self, item: InputFile, record: CallRecord | None, exc: Exception, seconds: float) -> FileOutcome:
        error = one_line_error(item.path, exc)
        log.warning("%s", error)
        if record is not None:
            record.status = "failed"
            record.error = error
            self._save_failure(record)
        return FileOutcome(item.path, "failed", call_id=record.id if record else None, error=error, seconds=seconds)

    def _save_failure(self, record: CallRecord) -> None:
        try:
            self.store.save_failure(record)
        except sqlite3.Error as exc:  # the store itself failed: report, go on with the batch
            log.error("%s: could not record the failure in the store (%s)", Path(record.source_path).name, exc)


def _log_stages(outcome: FileOutcome, result: CallResult) -> None:
    """One ``--verbose`` line per stored call: what each stage found and took, no text."""
    transcript = result.transcript
    probability = f" ({transcript.language_probability:.2f})" if transcript.language_probability is not None else ""
    log.info(
        "%s: read %d segments, language %s%s, in %.2f s; %d signals and %d opportunities in %.2f s; stored",
        outcome.path.name, len(transcript.segments), transcript.language or "?", probability,
        outcome.read_seconds, len(result.signals), len(result.opportunities), outcome.extract_seconds,
    )


# Errors whose messages are written for users and carry no transcript text.
DESCRIBED_ERRORS = (AudioError, InputError, ModelError, EncoderError, sqlite3.Error)


def check_regular_file(path: Path) -> None:
    """Refuse a FIFO, socket or device: reading one could block the batch for ever."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{path.name}: not a regular file")


def check_transcript_size(path: Path, limit: int = MAX_TRANSCRIPT_BYTES) -> None:
    size = path.stat().st_size
    if size > limit:
        raise TranscriptError(
            f"transcript too large ({size / (1 << 20):.1f} MiB; the limit is {limit / (1 << 20):g} MiB, "
            "about 15 hours of talk): split it into calls",
            source=path.name,
        )


def one_line_error(path: Path, exc: Exception) -> str:
    """One line naming the file and the problem, never quoting transcript text.

    An unexpected exception shows only its type: its message might hold a piece of the call.
    """
    if isinstance(exc, TranscriptError):
        message = exc.safe_message
    elif isinstance(exc, OSError):
        message = exc.strerror or type(exc).__name__
    elif isinstance(exc, DESCRIBED_ERRORS):
        message = str(exc)
    else:
        message = f"internal error ({type(exc).__name__})"
    message = " ".join(message.split()) or type(exc).__name__
    if path.name not in message:
        message = f"{path.name}: {message}"
    return message


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
