"""Trained heads over the sentence encoder that propose life events the rules' lexicons miss.

The rule files find events by what is said about them ("wir ziehen um"); a paraphrase with
none of their words ("ab Oktober wohnen wir in Köln", "der Bauch ist schon ganz schön rund")
passes them by. Two linear heads, trained by ``training/train_event_heads.py`` on sentences
written for it (``training/*.jsonl``, in no call set), read the USE embedding of a customer
sentence:

- the topic head: which life event the sentence is about, if any (softmax);
- the counts head: whether it states the event as the speaker's own, recent, current or
  planned (logistic, over the embedding and the rules' cue flags, since the encoder barely
  tells "gekauft" from "nicht gekauft").

A proposal becomes a signal only when both are sure and the rules' whole-sentence checks
(``statements.analyse``: an affirmed, current statement of the speaker's own) agree. The heads fit one encoder only; with another they are off.
Weights are plain numpy arrays (``data/models/life_event_heads.npz``): no scikit-learn at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from callscout.extract.cues import asks
from callscout.extract.rules import RuleSet
from callscout.extract.views import SentenceView

HEADS_FILE = "life_event_heads.npz"
# Chosen on the tuning half of the development calls (training/README.md has the sweep).
TOPIC_MIN = 0.5
COUNTS_MIN = 0.95
NOT_EVENTS = frozenset({"none", "health", "bereavement"})
# The cue flags the counts head reads, in this order (training and run time share it).
CUES = ("negation", "called_off", "hypothetical", "later", "reported", "long_ago", "long_duration", "recent",
        "present", "third_party", "first_person", "past", "offer", "second_person", "conditional")


def cue_features(view: SentenceView, rules: RuleSet) -> np.ndarray:
    flags = [view.has_cue(name) for name in CUES]
    flags.append(view.evidence.rstrip().endswith("?"))
    flags.append(asks(view, len(view) - 1, rules))
    flags.append(view.has_cue("third_party") and not view.has_cue("first_person"))
    return np.array(flags, dtype=np.float32)


@dataclass(frozen=True)
class Proposal:
    label: str
    topic: float  # the topic head's probability
    counts: float  # the counts head's probability


@dataclass(frozen=True)
class EventHeads:
    encoder: str  # the encoder the heads were trained on
    classes: tuple[str, ...]
    topic_weights: np.ndarray  # (dim, classes)
    topic_bias: np.ndarray
    counts_weights: np.ndarray  # (dim + cue flags,)
    counts_bias: float

    def propose(self, vectors: np.ndarray, features: np.ndarray) -> list[Proposal | None]:
        """For each sentence (its embedding and cue flags), the life event both heads are sure of."""
        if not len(vectors):
            return []
        logits = vectors @ self.topic_weights + self.topic_bias
        logits -= logits.max(axis=1, keepdims=True)
        topic = np.exp(logits)
        topic /= topic.sum(axis=1, keepdims=True)
        counts = 1.0 / (1.0 + np.exp(-(np.hstack([vectors, features]) @ self.counts_weights + self.counts_bias)))
        proposals: list[Proposal | None] = []
        for row, p_counts in zip(topic, counts):
            best = int(np.argmax(row))
            label = self.classes[best]
            sure = label not in NOT_EVENTS and row[best] >= TOPIC_MIN and p_counts >= COUNTS_MIN
            proposals.append(Proposal(label, float(row[best]), float(p_counts)) if sure else None)
        return proposals


@lru_cache(maxsize=1)
def load_heads() -> EventHeads | None:
    """The shipped heads, or None when the package has none (they are optional)."""
    source = resources.files("callscout.data").joinpath("models", HEADS_FILE)
    if not source.is_file():
        return None
    with source.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
        return EventHeads(
            encoder=str(data["encoder"]),
            classes=tuple(str(c) for c in data["classes"]),
            topic_weights=data["topic_weights"].astype(np.float32),
            topic_bias=data["topic_bias"].astype(np.float32),
            counts_weights=data["counts_weights"].astype(np.float32),
            counts_bias=float(data["counts_bias"]),
        )
