"""A sentence as the rules see it: lower-case words without punctuation, their lemmas, clauses.

Regular expressions from the rule files run over ``text`` and ``lemma_text``; a match is
turned back into word indices, so every rule speaks about the same words.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Topics = list[tuple[str, int, int]]  # (label, start word, end word)


@dataclass
class SentenceView:
    evidence: str  # the sentence as spoken
    words: list[str]  # lower case, punctuation dropped
    lemmas: list[str]
    clause_of: list[int]  # clause number of each word
    doc_indices: list[int] = field(default_factory=list)  # spaCy token index of each word
    # Set by the rule component: finds ``events`` and ``sensitive`` when first asked for.
    topic_finder: Callable[[SentenceView], tuple[Topics, Topics]] | None = field(default=None, repr=False, compare=False)
    cues: dict[str, list[tuple[int, int]]] = field(default_factory=dict, compare=False)
    # Cues not in ``cues`` yet are found with these on first ask (most are never asked for).
    cue_scanners: dict[str, re.Pattern] = field(default_factory=dict, repr=False, compare=False)
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # per-sentence results of later stages
    text: str = field(init=False)
    lemma_text: str = field(init=False)
    squashed: str = field(init=False)  # words without spaces, for split ASR words
    _starts: list[int] = field(init=False, repr=False)
    _lemma_starts: list[int] = field(init=False, repr=False)
    _squash_starts: list[int] = field(init=False, repr=False)
    _topics: tuple[Topics, Topics] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.text, self._starts = _join(self.words, " ")
        self.lemma_text, self._lemma_starts = _join(self.lemmas, " ")
        self.squashed, self._squash_starts = _join(self.words, "")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def events(self) -> Topics:
        """(life event id, start, end) of each life event the sentence tells of."""
        return self._found_topics()[0]

    @property
    def sensitive(self) -> Topics:
        """(sensitive topic id, start, end) of each sensitive topic in the sentence."""
        return self._found_topics()[1]

    def _found_topics(self) -> tuple[Topics, Topics]:
        if self._topics is None:
            self._topics = self.topic_finder(self) if self.topic_finder is not None else ([], [])
        return self._topics

    def find(self, pattern: re.Pattern, lemmas: bool = True) -> list[tuple[int, int]]:
        """Word spans [start, end) where the pattern matches the words or their lemmas."""
        spans = {self._span(m, self._starts) for m in pattern.finditer(self.text) if m.end() > m.start()}
        if lemmas and self.lemma_text is not self.text and self.lemma_text != self.text:
            spans |= {self._span(m, self._lemma_starts) for m in pattern.finditer(self.lemma_text) if m.end() > m.start()}
        return sorted(spans)

    def find_any(self, patterns, lemmas: bool = True) -> list[tuple[int, int]]:
        return sorted({span for pattern in patterns for span in self.find(pattern, lemmas)})

    def find_stem(self, stem: str) -> list[tuple[int, int]]:
        spans, at = [], self.squashed.find(stem)
        while at >= 0:
            spans.append(self._span_chars(at, at + len(stem), self._squash_starts))
            at = self.squashed.find(stem, at + 1)
        return spans

    def _span(self, match: re.Match, starts: list[int]) -> tuple[int, int]:
        return self._span_chars(match.start(), match.end(), starts)

    @staticmethod
    def _span_chars(start: int, end: int, starts: list[int]) -> tuple[int, int]:
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_left(starts, end)
        return max(first, 0), max(last, first + 1)

    def cue_spans(self, name: str) -> list[tuple[int, int]]:
        spans = self.cues.get(name)
        if spans is None:
            scanner = self.cue_scanners.get(name)
            spans = self.find(scanner, lemmas=False) if scanner is not None else []
            self.cues[name] = spans
        return spans

    def has_cue(self, name: str, words: range | None = None) -> bool:
        spans = self.cue_spans(name)
        if words is None:
            return bool(spans)
        return any(start in words or (start < words.start and end > words.start) for start, end in spans)

    def clause_range(self, word: int) -> range:
        clause = self.clause_of[word]
        members = [i for i, c in enumerate(self.clause_of) if c == clause]
        return range(members[0], members[-1] + 1)

    def clause_words(self, clause: int) -> list[int]:
        return [i for i, c in enumerate(self.clause_of) if c == clause]

    def clause_text(self, clause: int) -> str:
        return " ".join(self.words[i] for i in self.clause_words(clause))


def _join(parts: list[str], sep: str) -> tuple[str, list[int]]:
    starts, at = [], 0
    for part in parts:
        starts.append(at)
        at += len(part) + len(sep)
    return sep.join(parts), starts
