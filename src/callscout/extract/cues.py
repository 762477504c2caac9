"""Does a trigger in a sentence count? Negation, vague plans, conditions, other people, the past."""

from __future__ import annotations

from dataclasses import dataclass

from callscout.extract.rules import EventRule, RuleSet
from callscout.extract.views import SentenceView

COUNTS = "counts"


@dataclass(frozen=True)
class Verdict:
    reason: str  # "counts" or why not: negated, called_off, question, hypothetical, conditional, third_party, long_ago, past

    @property
    def counts(self) -> bool:
        return self.reason == COUNTS


FRAGMENT_WORDS = 10
CONTINUATION_WORDS = 12


def assess_trigger(
    view: SentenceView,
    start: int,
    rule: EventRule | None,
    rules: RuleSet,
    before: SentenceView | None = None,
    answered: bool = False,
) -> Verdict:
    """Whether a trigger at word ``start`` is a real, current statement about the speaker.

    ``before`` is the previous sentence of the same turn: a short fragment ("University, or
    a first car.") continues it, so its vague plans count for the fragment too. ``answered``:
    the sentence is the agent's question the customer confirmed, so its asking is no reason.
    """
    clause = view.clause_range(start)
    if view.has_cue("negation", clause):
        return Verdict("negated")
    if view.has_cue("called_off"):
        return Verdict("called_off")
    if not answered and asks(view, start, rules):
        return Verdict("question")
    if is_vague(view) or (before is not None and len(view) <= FRAGMENT_WORDS and is_vague(before)):
        return Verdict("hypothetical")
    if any(pattern.search(view.clause_text(view.clause_of[start])) for pattern in rules.cue("conditional")):
        return Verdict("conditional")
    if rule is not None and is_third_party(view, start, rule):
        return Verdict("third_party")
    if rule is not None and (is_long_ago(view, start) or _continues_the_past(view, before)):
        return Verdict("long_ago")
    if rule is not None and rule.past_blocks and view.has_cue("past"):
        return Verdict("past")
    return Verdict(COUNTS)


QUESTION_FRAGMENT_WORDS = 3


def asks(view: SentenceView, start: int, rules: RuleSet) -> bool:
    """The words at ``start`` are asked, not stated: a sentence ending in "?" that is a bare
    fragment ("Heiraten?") or whose clause with the trigger deliberates ("Sollen wir umziehen?",
    "Should we get a dog?", "Is it worth buying?"). A question about what the event brings
    presupposes it: "Muss ich Ihnen die neue Adresse schicken?", "Do I need new cover?"."""
    if not view.evidence.rstrip().endswith("?"):
        return False
    if len(view) <= QUESTION_FRAGMENT_WORDS:
        return True
    # the sentence's opening too: clause breaks ("doch", "oder") cut "Sollen wir | doch ein Haus kaufen?"
    openings = (view.clause_text(view.clause_of[start]), view.clause_text(view.clause_of[0]))
    return any(p.search(text) for text in openings for p in rules.cue("question_opening"))


def speaks_like_agent(view: SentenceView) -> bool:
    """Recommending, offering, "many customers ...": how an agent talks, not a customer."""
    return view.has_cue("offer")


def is_vague(view: SentenceView) -> bool:
    return view.has_cue("hypothetical") or view.has_cue("later")


SUBJECT_AFTER_VERB = 2  # words after the trigger where an inverted subject stands
BIRTH_WORDS = frozenset({"born", "geboren"})
BIRTH_REACH = 4  # words of a trigger span searched for the birth itself


def is_third_party(view: SentenceView, start: int, rule: EventRule) -> bool:
    """Someone else is the subject: a third-party word before the trigger and no "I"/"we" between,
    or one right after it ("ausziehen musste er") and no "I"/"we" in the clause; not "our daughter"
    when she is the one born."""
    exempt = rule.third_party_exempt or frozenset()
    if "all" in exempt:
        return False
    firsts = [s for s, _ in view.cue_spans("first_person")]
    clause = view.clause_range(start)
    births = any(word in BIRTH_WORDS for word in view.words[start:start + BIRTH_REACH])
    possessives = [s for s, _ in view.cue_spans("possessive")]
    for tp_start, tp_end in view.cue_spans("third_party"):
        if view.words[tp_start] in exempt:
            continue
        if births and any(tp_start - 2 <= p < tp_start for p in possessives):
            continue  # "our daughter was born": the household's own child is the one born
        if tp_start < start and not any(tp_end <= first < start for first in firsts):
            return True
        # the subject after the verb ("ausziehen musste er, nicht ich"), none of "ich/wir" in the clause
        if start < tp_start <= start + SUBJECT_AFTER_VERB and not any(first in clause for first in firsts):
            return True
    return False


def is_long_ago(view: SentenceView, start: int) -> bool:
    if view.has_cue("long_ago"):  # "I married a German, hence the name, forty years ago now."
        return True
    here = view.clause_range(start)
    return view.has_cue("long_duration", here) and not view.has_cue("recent", here)


def possession_cues(view: SentenceView, cue: str, words: range | None = None) -> list[tuple[int, int]]:
    """Spans of a possession-type cue, without "hab/haben" used as an auxiliary: in a clause
    with another participle ("Ich hab mir den Brief angeguckt") it says nothing about owning."""
    spans = [s for s in view.cue_spans(cue) if words is None or s[0] in words]
    auxiliaries = view.cue_spans("auxiliary")
    if not auxiliaries:
        return spans
    owning = {s for name in ("possession", "acquisition") for s in view.cue_spans(name) if s not in auxiliaries}
    kept = []
    for span in spans:
        if span in auxiliaries:
            clause = view.clause_range(span[0])
            participles = [p for p in view.cue_spans("participle") if p[0] in clause and p not in owning]
            if participles:
                continue
        kept.append(span)
    return kept


def is_reported(view: SentenceView, start: int) -> bool:
    """A cue inside reported speech ("der hat immer gesagt brauch ich nicht")."""
    clause = view.clause_range(start)
    return any(s[0] in clause and s[0] < start for s in view.cue_spans("reported"))


def _continues_the_past(view: SentenceView, before: SentenceView | None) -> bool:
    """"... living in Heidelberg since ninety-two. Came over with the Army, married a local
    girl." A short sentence without its own time continues the previous one's past."""
    if before is None or len(view) > CONTINUATION_WORDS:
        return False
    return before.has_cue("long_ago") and not (view.has_cue("recent") or view.has_cue("present"))


def turn_opening(view: SentenceView, rules: RuleSet) -> str:
    """'confirm', 'deny' or '' for the first words of a customer turn (after fillers)."""
    words = list(view.words)
    while words and words[0] in rules.fillers:
        words.pop(0)
    text = " ".join(words)
    if any(p.search(text) for p in rules.cue("deny")):
        return "deny"
    if any(p.search(text) for p in rules.cue("confirm")):
        return "confirm"
    return ""
