"""Life events and sensitive topics the customer states, or confirms when the agent asks."""

from __future__ import annotations

from callscout.extract.cues import assess_trigger, speaks_like_agent, turn_opening
from callscout.extract.event_heads import Proposal
from callscout.extract.rules import RuleSet
from callscout.extract.statements import analyse
from callscout.extract.turns import Turn, make_signal, previous_agent_turn, prompt_views
from callscout.extract.views import SentenceView
from callscout.records import Signal

STATED = 0.9
CONFIRMED = 0.75
PROPOSED = 0.7  # by the trained heads (``event_heads``), with no rule pattern behind it
MIN_PROPOSAL_WORDS = 3


def event_candidates(turns: list[Turn], rules: RuleSet) -> list[SentenceView]:
    """Customer sentences in which no rule pattern finds an event but which state something
    (``statements``): the ones the trained heads read."""
    return [
        view
        for turn in turns
        if turn.is_customer
        for view in turn.views
        if not view.events and len(view) >= MIN_PROPOSAL_WORDS and analyse(view, rules).states
    ]


def life_event_signals(turns: list[Turn], rules: RuleSet, proposals: dict[int, Proposal] | None = None) -> list[Signal]:
    """``proposals``: the trained heads' events for sentences the rules found none in, by ``id(view)``."""
    proposals = proposals or {}
    by_label = {rule.label: rule for rule in rules.life_events}
    signals = []
    someone_elses: set[str] = set()  # events already told about another person in this call
    for position, turn in enumerate(turns):
        if not turn.is_customer:
            continue
        for number, view in enumerate(turn.views):
            before = turn.views[number - 1] if number else None
            after = turn.views[number + 1] if number + 1 < len(turn.views) else None
            if turn.is_unknown and speaks_like_agent(view):
                continue  # an unlabelled speaker talking as an agent does ("Viele Kunden, die umziehen, ...")
            for label, start, _ in view.events:
                verdict = assess_trigger(view, start, by_label[label], rules, before)
                if verdict.reason == "third_party":
                    someone_elses.add(label)
                elif verdict.counts and not _called_off_next(after) and not _still_someone_elses(view, start, label, someone_elses):
                    signals.append(make_signal("life_event", label, turn, view.evidence, STATED))
            proposal = proposals.get(id(view))
            if proposal is not None and proposal.label not in someone_elses and not _called_off_next(after):
                signals.append(make_signal("life_event", proposal.label, turn, view.evidence, PROPOSED))
        confirmed = _confirmed_events(turns, position, rules, by_label)
        signals.extend(s for s in confirmed if s.label not in someone_elses)
    return signals


CALLED_OFF_WORDS = 8


def _called_off_next(after: SentenceView | None) -> bool:
    """"Wir wollten im Mai heiraten. Ist aber abgesagt." A short next sentence calls it off."""
    return after is not None and len(after) <= CALLED_OFF_WORDS and after.has_cue("called_off")


def _still_someone_elses(view: SentenceView, start: int, label: str, someone_elses: set[str]) -> bool:
    """"Mein Kumpel heiratet im Mai ... in der Kirche ist während der Hochzeit Blitzen verboten":
    once an event is someone else's, later mentions without "ich/wir" stay theirs."""
    return label in someone_elses and not view.has_cue("first_person", view.clause_range(start))


def _confirmed_events(turns: list[Turn], position: int, rules: RuleSet, by_label) -> list[Signal]:
    """Events the agent asks about ("Fängt er im Herbst mit dem Studium an?") that the customer
    confirms at the start of the next turn ("Ja, genau."), or of the turn after an aside."""
    agent, turn = previous_agent_turn(turns, position), turns[position]
    if agent is None or not turn.views or turn_opening(turn.views[0], rules) != "confirm":
        return []
    signals = []
    for view in _asked(turns, position, agent, rules):
        if speaks_like_agent(view):
            continue  # a recommendation answered "ja, schicken Sie mir das" confirms no life event
        for label, start, _ in view.events:
            if assess_trigger(view, start, by_label[label], rules, answered=True).counts:
                evidence = f"{view.evidence} — {turn.views[0].evidence}"
                signals.append(make_signal("life_event", label, turn, evidence, CONFIRMED))
    return signals


def _asked(turns: list[Turn], position: int, agent: Turn, rules: RuleSet) -> list[SentenceView]:
    """What the customer's "yes" answers: the agent's question just before, or, when that turn
    asks nothing and the customer's turn before it neither confirmed nor denied (an aside: "Moment,
    da klingelt's ... So, wo waren wir?"), the question one exchange earlier."""
    views = prompt_views(agent)
    if any(view.events for view in views) or position < 3:
        return views
    aside, earlier = turns[position - 2], turns[position - 3]
    if aside.is_agent or not earlier.is_agent or not aside.views or turn_opening(aside.views[0], rules):
        return views
    return views + [view for view in prompt_views(earlier) if view.evidence.rstrip().endswith("?")]


def sensitive_signals(turns: list[Turn], rules: RuleSet) -> list[Signal]:
    signals = []
    for turn in turns:
        if not turn.is_customer:
            continue
        for view in turn.views:
            for label, start, _end in view.sensitive:
                if _is_idiom(view, start, rules) or view.has_cue("negation", view.clause_range(start)):
                    continue
                signals.append(make_signal("sensitive", label, turn, view.evidence, STATED))
    return signals


def _is_idiom(view: SentenceView, start: int, rules: RuleSet) -> bool:
    return any(s <= start < e for s, e in view.find_any(rules.not_sensitive))
