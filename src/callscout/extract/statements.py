"""What a sentence does, as one record: asks or states, affirms or negates, whose, when.

Every signal kind reads the same analysis: the trained event heads take a proposal only from a
sentence that ``states`` something, and the eval's error classes name what a false positive's
evidence did (asked, negated, someone else's, not current). The attributes come from the cue
patterns of the rule files (``data/rules/*.yaml``), found by the spaCy cue component, over the
whole sentence; rules that know a trigger's word position (``cues.assess_trigger``) look at its
clause instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscout.extract.cues import asks, is_vague, speaks_like_agent
from callscout.extract.rules import RuleSet
from callscout.extract.views import SentenceView

STATEMENT, QUESTION, OFFER = "statement", "question", "offer"
AFFIRMED, NEGATED = "affirmed", "negated"
SPEAKER, THIRD_PARTY = "speaker", "third_party"
CURRENT, LONG_AGO, CALLED_OFF, VAGUE, CONDITIONAL = "current", "long_ago", "called_off", "vague", "conditional"


@dataclass(frozen=True)
class Statement:
    act: str  # statement, question, or offer (the agent's manner)
    polarity: str  # affirmed or negated
    holder: str  # the speaker (and household) or a third party
    time: str  # current (recent, now, planned), long_ago, called_off, vague, conditional
    reported: bool  # someone else's words ("my husband says ...")

    @property
    def states(self) -> bool:
        """An affirmed, current statement of the speaker's own."""
        return (self.act, self.polarity, self.holder, self.time, self.reported) == (STATEMENT, AFFIRMED, SPEAKER, CURRENT, False)


def analyse(view: SentenceView, rules: RuleSet) -> Statement:
    """The sentence's statement record (kept on the view: later stages ask again)."""
    found = view.memo.get("statement")
    if found is None:
        found = view.memo["statement"] = Statement(_act(view, rules), _polarity(view), _holder(view), _time(view, rules),
                                                   view.has_cue("reported"))
    return found


def _act(view: SentenceView, rules: RuleSet) -> str:
    if speaks_like_agent(view):
        return OFFER
    if view.evidence.rstrip().endswith("?") or asks(view, len(view) - 1, rules):
        return QUESTION
    return STATEMENT


def _polarity(view: SentenceView) -> str:
    return NEGATED if view.has_cue("negation") else AFFIRMED


def _holder(view: SentenceView) -> str:
    return THIRD_PARTY if view.has_cue("third_party") and not view.has_cue("first_person") else SPEAKER


def _time(view: SentenceView, rules: RuleSet) -> str:
    if view.has_cue("called_off"):
        return CALLED_OFF
    if view.has_cue("long_ago") or view.has_cue("long_duration"):
        return LONG_AGO
    if is_vague(view):
        return VAGUE
    if any(p.search(view.clause_text(c)) for c in set(view.clause_of) for p in rules.cue("conditional")):
        return CONDITIONAL
    return CURRENT
