"""Products the customer owns or is buying, already has, or declines.

- owned: a product named with a possession or purchase cue ("I bought the X-T5", "Ich will
  mir ein neues Handy holen"); complements of it become opportunities.
- already_has / declined: suppress the product. When the customer does not name it ("Nee,
  lass mal weg", "We've got that"), the product is the one the agent named just before.
"""

from __future__ import annotations

from collections.abc import Callable

from callscout.extract.cues import is_reported, possession_cues, turn_opening
from callscout.extract.products import Mention, ProductMatcher
from callscout.extract.rules import RuleSet
from callscout.extract.turns import Turn, make_signal, previous_agent_turn, prompt_views
from callscout.extract.views import SentenceView
from callscout.records import Signal

NAMED = 0.85
REFERRED = 0.7

# Turns an agent turn into the products it offers when it names none by alias.
OfferResolver = Callable[[Turn], list[str]]


def ownership_signals(
    turns: list[Turn], matcher: ProductMatcher, rules: RuleSet, resolve_offer: OfferResolver | None = None
) -> list[Signal]:
    signals = []
    for position, turn in enumerate(turns):
        if not turn.is_customer:
            continue
        mentions = [matcher.find(view) for view in turn.views]
        for number, (view, found) in enumerate(zip(turn.views, mentions)):
            signals.extend(_named(turn, view, found, rules))
            if not found and number and mentions[number - 1] and bare_refusal(view, rules):
                # "... will call me to sell funds. Please, no.": the refusal is of what was just named
                evidence = f"{turn.views[number - 1].evidence} {view.evidence}"
                signals.extend(make_signal("declined", m.product_id, turn, evidence, NAMED) for m in mentions[number - 1])
        agent = previous_agent_turn(turns, position)
        if agent is not None:
            signals.extend(_agent_stated_possession(agent, turn, matcher, rules))
            if not any(mentions):
                signals.extend(_unnamed_reply(agent, turn, matcher, rules, resolve_offer))
    return signals


def _named(turn: Turn, view: SentenceView, mentions: list[Mention], rules: RuleSet) -> list[Signal]:
    if not mentions:
        return []
    if _declines(view):
        return [make_signal("declined", m.product_id, turn, view.evidence, NAMED) for m in mentions]
    signals = []
    for mention in mentions:
        clause = view.clause_range(mention.start)
        if view.has_cue("past_possession", clause):
            continue  # "X hatte ich bisher über meine Eltern", "it ran out": not held now
        if view.has_cue("about_it", clause):
            # "I have a question about the X" is no possession; "... about my X" still says I have it
            if view.has_cue("possessive", range(max(0, mention.start - POSSESSIVE_REACH), mention.start)):
                signals.append(make_signal("owned", mention.product_id, turn, view.evidence, NAMED))
            continue
        if view.has_cue("negation", clause):
            if refused(view, clause):
                signals.append(make_signal("declined", mention.product_id, turn, view.evidence, NAMED))
            continue
        if view.has_cue("hypothetical"):
            continue
        if _conditional(view, mention.start, rules):
            continue
        if possession_cues(view, "already_has", clause) or _nearest_to_cue(view, mentions, mention, "already_has"):
            signals.append(make_signal("already_has", mention.product_id, turn, view.evidence, NAMED))
            signals.append(make_signal("owned", mention.product_id, turn, view.evidence, NAMED))
        elif view.has_cue("acquisition", clause) or _nearest_to_cue(view, mentions, mention, "acquisition"):
            signals.append(make_signal("owned", mention.product_id, turn, view.evidence, NAMED))
    return signals


def _nearest_to_cue(view: SentenceView, mentions: list[Mention], mention: Mention, cue: str) -> bool:
    """A cue in another clause ("..., and I just wanted to check before I order it") binds to
    the product mention nearest to it."""
    for start, _ in possession_cues(view, cue):
        if view.has_cue("negation", view.clause_range(start)):
            continue
        nearest = min(mentions, key=lambda m: abs(m.start - start))
        if nearest is mention:
            return True
    return False


POSSESSIVE_REACH = 2  # words before a product where "my"/"mein" makes it the speaker's
WISH_NEGATION_GAP = 2  # words from the negation to the wish it negates
BARE_NO_WORDS = 4  # "Keine Finanzierung, bitte.", "No TV."
REFUSAL_WORDS = 3  # "Please, no.", "Bitte nicht."


def refused(view: SentenceView, clause: range) -> bool:
    """A negated wish for what the clause names ("TV we don't need", "Kredit will ich keinen"),
    or a bare "no X" ("No credit.", "Keine Finanzierung, bitte."). "I don't have X" is no refusal."""
    wishes = [start for start, _ in view.cue_spans("wish") if start in clause]
    negations = [start for start, _ in view.cue_spans("negation") if start in clause]
    # the negation governs the wish: "don't need", "brauch ich nicht", "will ich keinen"; not a
    # "nee" that opened the sentence and a "need" three clauses on (speech-recognition run-ons)
    if any(abs(w - n) <= WISH_NEGATION_GAP for w in wishes for n in negations) and not is_reported(view, clause.start):
        return True
    if view.evidence.rstrip().endswith("?"):
        return False  # "Kein Ladegerät?" asks for one
    return len(_plain_words(view)) <= BARE_NO_WORDS and view.has_cue("negation", range(0, 1))


def bare_refusal(view: SentenceView, rules: RuleSet) -> bool:
    """A short answer that only refuses: "Please, no.", "Bitte nicht.", "Nein danke."."""
    words = _plain_words(view, rules)
    return 0 < len(words) <= REFUSAL_WORDS and (view.has_cue("negation") or _declines(view))


def _plain_words(view: SentenceView, rules: RuleSet | None = None) -> list[str]:
    """The sentence's words without politeness and fillers."""
    polite = {i for start, end in view.cue_spans("politeness") for i in range(start, end)}
    fillers = rules.fillers if rules is not None else ()
    return [w for i, w in enumerate(view.words) if i not in polite and w not in fillers]


def _declines(view: SentenceView) -> bool:
    return any(not is_reported(view, start) for start, _ in view.cue_spans("decline"))


def _conditional(view: SentenceView, word: int, rules: RuleSet) -> bool:
    text = view.clause_text(view.clause_of[word])
    return any(p.search(text) for p in rules.cue("conditional"))


def _agent_stated_possession(agent: Turn, turn: Turn, matcher: ProductMatcher, rules: RuleSet) -> list[Signal]:
    """"Bei uns haben Sie das Depot und eine Privathaftpflicht." - "Genau." -> already has both."""
    if not turn.views or turn_opening(turn.views[0], rules) != "confirm":
        return []
    signals = []
    for view in prompt_views(agent):
        if not view.has_cue("second_person_possession") or view.has_cue("negation"):
            continue
        for mention in matcher.find(view):
            evidence = f"{view.evidence} — {turn.views[0].evidence}"
            signals.append(make_signal("already_has", mention.product_id, turn, evidence, REFERRED))
    return signals


def _unnamed_reply(
    agent: Turn, turn: Turn, matcher: ProductMatcher, rules: RuleSet, resolve_offer: OfferResolver | None
) -> list[Signal]:
    """A decline or "have it" that names no product refers to what the agent just offered."""
    for view in turn.views:
        clauses = sorted(set(view.clause_of))
        if _declines(view):
            kind = "declined"
        elif any(p.search(view.clause_text(c)) for c in clauses for p in rules.cue("has_it")):
            kind = "already_has"
        else:
            continue
        offered = sorted({m.product_id for v in agent.views for m in matcher.find(v)})
        if not offered and resolve_offer is not None:
            offered = resolve_offer(agent)
        # Of several offers, a reply naming a word of one ("TV we don't need") refers to that one.
        named = [p for p in offered if matcher.name_words.get(p, frozenset()) & set(view.words)]
        offered = named or offered
        evidence = f"{agent.views[-1].evidence} — {view.evidence}" if agent.views else view.evidence
        return [make_signal(kind, product_id, turn, evidence, REFERRED) for product_id in offered]
    return []
