"""Guards against Whisper's known failures on calls: text the model itself took for no speech
(noise, hold music, silence) and decoding loops. Measured in tests/test_whisper_failures.py."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace

from callscout.asr.batch_decode import LOG_PROB_THRESHOLD
from callscout.records import Segment

log = logging.getLogger("callscout")

# A word n-gram said more often than this in a row is a decoding loop, not speech...
MAX_REPEATS = 3
MAX_LOOP_WORDS = 8
# ...when its segment holds more words than its audio could: fast speech is ~4 words/s, a
# runaway loop fills the window's 448 tokens (~8 words/s). Below that rate the repeats were
# said: the ~6 min bench file's eight takes of one sentence, cut to one, cost 0.018 WER.
MAX_WORDS_PER_SECOND = 4.0
# faster-whisper's own default for "this window holds no speech", with ``LOG_PROB_THRESHOLD``
# (see ``doubtless``).
NO_SPEECH_THRESHOLD = 0.6


def guarded(pieces, speaker: str) -> list[Segment]:
    """Either decoder's pieces as ``speaker``'s segments, through both hallucination guards."""
    return without_repetitions(
        Segment(speaker=speaker, text=p.text.strip(), start=round(p.start, 2), end=round(p.end, 2))
        for p in doubtless(pieces)
    )


def doubtless(pieces) -> Iterator:
    """faster-whisper's segments without those the model itself took for no speech.

    The sequential decoder drops a window whose no-speech probability is above
    ``NO_SPEECH_THRESHOLD`` when its text is also unlikely (``LOG_PROB_THRESHOLD``); the
    batched one keeps it, and wrote "you" over loud pink noise. The same rule is applied
    here, and also drops such a doubted piece when it repeats the one before (the batched
    decoder, told the call is German, wrote "Das ist nicht so." 13 times over that noise).
    """
    previous: tuple[str, ...] = ()
    for piece in pieces:
        words = _normalised(piece.text.split())
        if not words:
            continue
        doubted = piece.no_speech_prob > NO_SPEECH_THRESHOLD
        if doubted and (piece.avg_logprob < LOG_PROB_THRESHOLD or words == previous):
            log.debug("dropped a piece the model doubted as speech at %.1f s", piece.start)
            continue
        previous = words
        yield piece


def without_repetitions(segments) -> list[Segment]:
    """Cut decoding loops: collapse a phrase repeated more than ``MAX_REPEATS`` times in a
    row to one where the segment has more words than its audio could hold, drop a segment
    that repeats the one before it over the same stretch of audio, and drop segments
    without a single word (the base model writes "..." for a tone when VAD is off).

    The same words said again later are speech, not a loop: dropping every repeated
    segment cut seven real "Mist, wieder nichts geschafft." takes from the ~6 min bench
    file and raised its WER from 0.119 to 0.195.
    """
    kept: list[Segment] = []
    for segment in segments:
        text = segment.text if _speakable(segment) else collapse_loops(segment.text)
        if not _normalised(text.split()):  # "..." or "♪": no word at all
            continue
        if kept and _same_words_same_audio(segment, text, kept[-1]):
            log.debug("dropped a segment repeating the previous one at %.1f s", segment.start or 0.0)
            continue
        kept.append(replace(segment, text=text))
    return kept


def _speakable(segment: Segment) -> bool:
    """Whether the segment's audio could hold its words (see ``MAX_WORDS_PER_SECOND``)."""
    if segment.start is None or segment.end is None or segment.end <= segment.start:
        return False
    return len(segment.text.split()) <= MAX_WORDS_PER_SECOND * (segment.end - segment.start)


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
