"""Batched Whisper decoding of many recordings at once, as one stream of speech windows.

faster-whisper's ``BatchedInferencePipeline`` batches the windows of one recording. A
short call has one window, so a batch of short calls got no batching at all, and every
call paid a second encoder pass to detect its language. Here the VAD speech of every
channel of every recording in a group is cut into windows of up to ``chunk_seconds``
(``asr.windowing``), and windows of different recordings share a batch: one encoder pass per window, the
language read from that same encoder output (several windows per recording, customer
channel first), and one greedy decoding pass per batch with each window's own language
and the catalogue's hotwords in its prompt.

A full 30 s window has a known failure: the model ends its last segment early and leaves
the final words of the window unwritten, expecting a next window that batched decoding
never gives it. ``decode`` therefore re-decodes every such unwritten tail once, in the
next batch, the tails of one recording's windows in a batch packed into as few windows as
they fit.

With a model of several CTranslate2 workers (``num_workers``), a batch is split into one part
per worker, and the parts are encoded and decoded side by side, each on its worker's threads.
On 2 cores, two workers of one thread each took 7.5 s for a batch of eight 30 s windows where
one worker of two threads took 9.8 s (a decoding step is too small a job to share between
threads), but lost as much on batches of one to three windows, which one thread decodes alone:
end to end the same time on the bench files, so one worker is the default.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from callscout.asr.windowing import WINDOW_FRAMES, Stream, Window, encoder_frames, packed, stream_windows, unwritten_tail

log = logging.getLogger("callscout")

# Language detection reads at most this many windows per recording.
LANGUAGE_WINDOWS = 4
# faster-whisper's own fallback thresholds; ``asr.guards.doubtless`` reads the first too.
LOG_PROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4
# Greedy decoding where the model is sure, beam search where it is not: a window whose greedy
# output averages a log-probability under UNSURE_LOGPROB is decoded again with beam search, from
# the same encoder output. Bench: 20 clips' WER 0.107 -> 0.096 for ~1 s; the ~6 min file
# unchanged (its windows are sure). Beam search for every window cost the ~6 min file 20 %.
UNSURE_LOGPROB = -0.5
UNSURE_BEAM = 5
# With the hotword prompt, greedy decoding often writes a whole window as one segment (the 80 s
# bench file: 3 segments of ~28 s instead of 18 of ~5 s), and a quote's time would be its
# window's. A segment longer than SPLIT_SECONDS is cut at its sentence ends, each sentence timed
# by its share of the segment's characters. Word alignment (cross-attention) timed them better
# but cost the ~6 min file 15 % (18.2 s -> 21.0 s in-process).
SPLIT_SECONDS = 10.0
SENTENCE_BREAK = re.compile(r"(?<=[.?!])\s+(?=[A-ZÄÖÜ])")  # "z.B. im Mai" is one sentence


@dataclass
class Piece:
    """A decoded segment, timed in its stream's original audio."""

    stream: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass
class Decoded:
    pieces: dict[int, list[Piece]] = field(default_factory=dict)  # by stream index
    languages: dict[Hashable, tuple[str, float]] = field(default_factory=dict)  # by recording


@dataclass
class Part:
    """The windows of a batch that one worker encodes and decodes."""

    rows: list[int]  # the windows' places in the batch, in order
    encoded: object = None  # their encoder output (ctranslate2.StorageView)


def split(size: int, parts: int) -> list[list[int]]:
    """A batch's rows in at most ``parts`` runs of nearly equal length."""
    parts = max(1, min(parts, size))
    bounds = [round(size * n / parts) for n in range(parts + 1)]
    return [list(range(bounds[n], bounds[n + 1])) for n in range(parts)]


def _rows(encoded, rows: list[int], size: int):
    """The encoder output of some windows of a batch (on CPU; on a GPU the whole batch)."""
    if len(rows) == size or encoded.device != "cpu":
        return encoded
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[rows]))


def _gathered(parts: list[Part], rows: list[int]):
    """The encoder output of some windows of a batch, from the parts that hold them."""
    if len(parts) == 1:
        return _rows(parts[0].encoded, [parts[0].rows.index(r) for r in rows], len(parts[0].rows))
    import ctranslate2

    outputs = {row: np.asarray(part.encoded)[n] for part in parts for n, row in enumerate(part.rows) if row in rows}
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack([outputs[row] for row in rows])))


def doubtful(text: str, avg_logprob: float) -> bool:
    """Whisper's own fallback thresholds: a low average log-probability, or text that
    compresses too well (a repetition loop)."""
    from faster_whisper.transcribe import get_compression_ratio

    return avg_logprob < LOG_PROB_THRESHOLD or (bool(text) and get_compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD)


def sentence_times(text: str, start: float, end: float) -> list[tuple[str, float, float]]:
    """A long segment's sentences, each timed by its share of the segment's characters."""
    sentences = [part for part in SENTENCE_BREAK.split(text.strip()) if part]
    total = sum(len(sentence) for sentence in sentences)
    timed, at = [], start
    for sentence in sentences:
        length = (end - start) * len(sentence) / total
        timed.append((sentence, round(at, 2), round(at + length, 2)))
        at += length
    return timed


class BatchDecoder:
    """Decodes ``Stream``s with one ``faster_whisper.WhisperModel``."""

    def __init__(
        self,
        model,
        batch_size: int = 8,
        beam_size: int = 1,
        chunk_seconds: float = 30,
        fitted: bool = True,
        hotwords: str | None = None,
        echoes: Callable[[str], bool] | None = None,
        workers: int = 1,
    ):
        self.model = model
        self.workers = workers  # the model's CTranslate2 workers: parts of a batch run side by side
        self._pool: ThreadPoolExecutor | None = None
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.chunk_seconds = chunk_seconds
        self.fitted = fitted
        self.hotwords = hotwords or None
        # Whether a decoded text copies the hotword list; such a window is decoded again without it.
        self.echoes = echoes or (lambda text: False)
        self._tokenizers: dict[str, object] = {}
        self._prompts: dict[tuple[str, str | None], list[int]] = {}
        self._suppressed: list[int] | None = None  # the same token ids for every language

    def decode(
        self,
        streams: list[Stream],
        windows: list[Window] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Decoded:
        """The streams' pieces and languages; ``windows``: their ``stream_windows``, where found already.
        ``on_progress`` gets the share of the speech decoded (0-1) after each batch."""
        result = Decoded(pieces={index: [] for index in range(len(streams))})
        for stream in streams:
            if stream.language:
                result.languages[stream.recording] = (stream.language, 1.0)
        queue = list(windows) if windows is not None else stream_windows(streams, self.chunk_seconds)
        speech = sum(w.seconds for w in queue) or 1.0
        decoded = 0.0
        while queue:
            # a batch shares one input length: the first waiting window's, and the next ones of that length
            frames = self._frames(queue[0])
            batch = [w for w in queue if self._frames(w) == frames][: self.batch_size]
            queue = [w for w in queue if not any(w is taken for taken in batch)]
            # a batch's unwritten ends and doubted windows join a later batch, not one of their own
            queue.extend(self._decode_batch(batch, streams, result, frames))
            if on_progress is not None:
                # windows decoded again (repairs, full context) are speech already counted
                decoded += sum(w.seconds for w in batch if not (w.repair or w.full_context))
                on_progress(min(1.0, decoded / speech))
        for pieces in result.pieces.values():
            pieces.sort(key=lambda p: (p.start, p.end))
        return result

    def _frames(self, window: Window) -> int:
        return encoder_frames(window.seconds) if self.fitted and not window.full_context else WINDOW_FRAMES

    def _decode_batch(self, batch: list[Window], streams: list[Stream], result: Decoded, frames: int) -> list[Window]:
        """Decodes the batch into ``result``; returns the windows to decode again: those a
        fitted input left in doubt, with the whole 30 s, and the unwritten ends, packed."""
        features = np.stack([self._features(streams[w.stream].samples, w, frames) for w in batch])
        parts = [Part(rows) for rows in split(len(batch), self.workers)]
        for part, encoded in zip(parts, self._side_by_side([lambda p=p: self.model.encode(features[p.rows]) for p in parts])):
            part.encoded = encoded
        self._detect_languages(parts, batch, streams, result)
        languages = [result.languages[streams[w.stream].recording][0] for w in batch]
        outputs = self._decoded_parts(parts, features, languages, list(range(len(batch))), self.hotwords)
        decoded = [self._pieces(window, language, output) for window, language, output in zip(batch, languages, outputs)]
        echoed = [i for i, (pieces, _) in enumerate(decoded) if self.hotwords and any(self.echoes(p.text) for p in pieces)]
        if echoed:
            log.info("the decoder echoed the product list; those windows are decoded again without it")
            for i, output in zip(echoed, self._decoded_parts(parts, features, languages, echoed, None)):
                decoded[i] = self._pieces(batch[i], languages[i], output)
                outputs[i] = output
        tails: dict[int, list[tuple[int, int]]] = {}
        again_full: list[Window] = []
        for window, (pieces, written_to), output in zip(batch, decoded, outputs):
            if frames < WINDOW_FRAMES and doubtful(" ".join(p.text for p in pieces), output[1]):
                again_full.append(Window(window.stream, window.spans, window.repair, full_context=True))
                continue
            result.pieces[window.stream].extend(pieces)
            if not window.repair and unwritten_tail(window, written_to):
                tails.setdefault(window.stream, []).extend(window.after(written_to))
        return again_full + [
            Window(w.stream, w.spans, repair=True)
            for stream, spans in tails.items()
            for w in packed(stream, sorted(spans), self.chunk_seconds)
        ]

    def _side_by_side(self, jobs: list[Callable[[], object]]) -> list:
        """The jobs' results, run on the pool's threads where there is more than one
        (CTranslate2 releases the GIL while it works)."""
        if len(jobs) == 1:
            return [jobs[0]()]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="callscout-decoder")
        return [future.result() for future in [self._pool.submit(job) for job in jobs]]

    def _decoded_parts(self, parts: list[Part], features: np.ndarray, languages: list[str], rows: list[int], hotwords: str | None) -> list:
        """``_decoded`` for some of the batch's windows, each part's on its own worker."""
        for language in set(languages[r] for r in rows):
            self._prompt(language, hotwords)  # tokenised once, before the threads need it
        self._suppressed_tokens(languages[rows[0]])
        jobs, order = [], []
        for part in parts:
            mine = [n for n, row in enumerate(part.rows) if row in rows]
            if mine:
                part_features, part_languages = features[part.rows], [languages[r] for r in part.rows]
                jobs.append(lambda p=part, m=mine, f=part_features, langs=part_languages: self._decoded(p.encoded, f, langs, m, hotwords))
                order += [part.rows[n] for n in mine]
        by_row = dict(zip(order, [output for outputs in self._side_by_side(jobs) for output in outputs]))
        return [by_row[row] for row in rows]

    def _decoded(self, encoded, features: np.ndarray, languages: list[str], rows: list[int], hotwords: str | None) -> list:
        """The outputs of some of the batch's windows: greedy (``beam_size``), and searched
        again with UNSURE_BEAM beams where the greedy output is unsure, unless the search
        only finds a loop (over loud noise: "Das ist nicht so." 13 times, each more likely
        than the greedy guess)."""
        outputs = self._generate(self._encoded_rows(encoded, features, rows), [languages[i] for i in rows], hotwords)
        unsure = [n for n, output in enumerate(outputs) if self.beam_size < UNSURE_BEAM and output[1] < UNSURE_LOGPROB]
        if unsure:
            again = self._encoded_rows(encoded, features, [rows[n] for n in unsure])
            for n, output in zip(unsure, self._generate(again, [languages[rows[n]] for n in unsure], hotwords, UNSURE_BEAM)):
                if not doubtful(self._tokenizer(languages[rows[n]]).decode(output[0]), output[1]):
                    outputs[n] = output
        return outputs

    def _encoded_rows(self, encoded, features: np.ndarray, rows: list[int]):
        """The encoder output of some of the batch's windows, for decoding them again."""
        again = _rows(encoded, rows, len(features))
        if again is encoded and len(rows) < len(features):  # on a GPU: encode those windows again
            again = self.model.encode(features[rows])
        return again

    def _features(self, samples: np.ndarray, window: Window, frames: int) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        audio = np.concatenate([samples[start:end] for start, end in window.spans])
        return pad_or_trim(self.model.feature_extractor(audio)[..., :-1], frames)

    def _detect_languages(self, parts: list[Part], batch: list[Window], streams: list[Stream], result: Decoded) -> None:
        undecided: dict[Hashable, list[int]] = {}
        for i, window in enumerate(batch):
            recording = streams[window.stream].recording
            if recording not in result.languages and len(undecided.get(recording, [])) < LANGUAGE_WINDOWS:
                # customer channel windows come first in a recording's stream order
                undecided.setdefault(recording, []).append(i)
        if not undecided:
            return
        if not self.model.model.is_multilingual:
            for recording in undecided:
                result.languages[recording] = ("en", 1.0)
            return
        chosen = sorted(i for indexes in undecided.values() for i in indexes)
        detected = dict(zip(chosen, self.model.model.detect_language(_gathered(parts, chosen))))
        for recording, indexes in undecided.items():
            totals: dict[str, float] = {}
            for i in indexes:
                for token, probability in detected[i]:
                    totals[token[2:-2]] = totals.get(token[2:-2], 0.0) + probability
            language = max(totals, key=totals.get)
            result.languages[recording] = (language, totals[language] / len(indexes))

    def _tokenizer(self, language: str):
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            self._tokenizers[language] = Tokenizer(
                self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language=language
            )
        return self._tokenizers[language]

    def _prompt(self, language: str, hotwords: str | None) -> list[int]:
        """The decoder prompt, its hotwords tokenised once per language, not per window."""
        if (language, hotwords) not in self._prompts:
            tokenizer = self._tokenizer(language)
            self._prompts[language, hotwords] = self.model.get_prompt(tokenizer, [], without_timestamps=False, hotwords=hotwords)
        return self._prompts[language, hotwords]

    def _suppressed_tokens(self, language: str) -> list[int]:
        if self._suppressed is None:
            from faster_whisper.transcribe import get_suppressed_tokens

            self._suppressed = get_suppressed_tokens(self._tokenizer(language), [-1])
        return self._suppressed

    def _generate(self, encoded, languages: list[str], hotwords: str | None, beam_size: int | None = None) -> list[tuple[list[int], float, float]]:
        results = self.model.model.generate(
            encoded,
            [self._prompt(language, hotwords) for language in languages],
            beam_size=beam_size or self.beam_size,
            max_length=self.model.max_length,
            suppress_blank=True,
            suppress_tokens=self._suppressed_tokens(languages[0]),
            return_scores=True,
            return_no_speech_prob=True,
        )
        outputs = []
        for result in results:
            tokens = result.sequences_ids[0]
            # faster-whisper's average: the length-normalised score over the tokens and the end token
            outputs.append((tokens, result.scores[0] * len(tokens) / (len(tokens) + 1), result.no_speech_prob))
        return outputs

    def _segments(self, tokens: list[int], language: str, seconds: float) -> list[dict]:
        segments, _, _ = self.model._split_segments_by_timestamps(
            tokenizer=self._tokenizer(language),
            tokens=tokens,
            time_offset=0.0,
            segment_size=int(np.ceil(seconds) * self.model.frames_per_second),
            segment_duration=seconds,
            seek=0,
        )
        return segments

    def _pieces(self, window: Window, language: str, output) -> tuple[list[Piece], float]:
        """The window's pieces in original time, and how far into the window they reach."""
        tokens, avg_logprob, no_speech_prob = output
        tokenizer = self._tokenizer(language)
        pieces, written_to = [], 0.0
        for segment in self._segments(tokens, language, window.seconds):
            text = tokenizer.decode(segment["tokens"]).strip()
            start, end = min(segment["start"], window.seconds), min(segment["end"], window.seconds)
            written_to = max(written_to, end)
            if not text:
                continue
            parts = sentence_times(text, start, end) if end - start > SPLIT_SECONDS else [(text, start, end)]
            for part, part_start, part_end in parts:
                pieces.append(
                    Piece(window.stream, window.original_time(part_start), window.original_time(part_end), part, avg_logprob, no_speech_prob)
                )
        return pieces, written_to
