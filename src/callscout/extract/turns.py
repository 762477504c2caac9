"""A call as turns: each segment with its parsed sentences, and helpers to make signals."""

from __future__ import annotations

from dataclasses import dataclass

from callscout.extract.views import SentenceView
from callscout.records import AGENT, CUSTOMER, Segment, Signal


@dataclass
class Turn:
    index: int  # segment index in the transcript
    segment: Segment
    views: list[SentenceView]

    @property
    def is_customer(self) -> bool:
        # An unknown speaker is treated as the customer: only the agent's words are known not to count.
        return self.segment.speaker != AGENT

    @property
    def is_agent(self) -> bool:
        return self.segment.speaker == AGENT

    @property
    def is_unknown(self) -> bool:
        return self.segment.speaker not in (AGENT, CUSTOMER)


def previous_agent_turn(turns: list[Turn], position: int) -> Turn | None:
    if position > 0 and turns[position - 1].is_agent:
        return turns[position - 1]
    return None


def prompt_views(agent: Turn) -> list[SentenceView]:
    """The agent sentences a customer's "yes"/"no" answers: questions and the last sentence."""
    if not agent.views:
        return []
    chosen = [v for v in agent.views if v.evidence.rstrip().endswith("?")]
    if agent.views[-1] not in chosen:
        chosen.append(agent.views[-1])
    return chosen


def make_signal(kind: str, label: str, turn: Turn, evidence: str, confidence: float) -> Signal:
    return Signal(
        kind=kind,
        label=label,
        evidence=evidence,
        speaker=turn.segment.speaker or CUSTOMER,
        start=turn.segment.start,
        end=turn.segment.end,
        confidence=round(max(0.0, min(1.0, confidence)), 3),
        segment_idx=turn.index,
    )


def best_per_label(signals: list[Signal]) -> list[Signal]:
    """One signal per (kind, label): the most confident, the earliest on ties."""
    best: dict[tuple[str, str], Signal] = {}
    for signal in signals:
        key = (signal.kind, signal.label)
        if key not in best or signal.confidence > best[key].confidence:
            best[key] = signal
    return sorted(best.values(), key=lambda s: (s.segment_idx or 0, s.kind, s.label))
