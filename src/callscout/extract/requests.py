"""Products the customer asks for by name: signal kind ``requested``.

A customer sentence requests a catalogue product when it names it (``ProductMatcher``; also a
modifier that shares the next product's head: "Kfz- und Hausratversicherung", "car and
contents insurance") and it

- has a request form of the rule file's ``requests.forms`` (a question to the company about
  it, a price question, asking to get it or for a quote, an inquiry, a wish with "I"/"we" as
  the subject), or
- is elliptic: nothing but product names and ``requests.elliptic_words`` ("und
  Lebensversicherung", "the contents insurance, please"), made a request by a ``please``
  word, an ``additive`` word, the agent's ``open_prompt`` just before ("Anything else?") or a
  request in the customer's sentence before.

It is no request in a negated, hypothetical or conditional clause, in a story of the long past
(also a short sentence after one, as for life events), as someone else's wish
("my wife wants ..."), for the customer's own product ("my car insurance"), for service on it
(cancel, claim), and where the sentence has the customer already have or decline the product:
ownership wins. Agent turns never request.

Ownership reads "Haben Sie auch ...?" / "Do you have ...?" / "What does it cost with you?" as
possession. Where every possession cue of a sentence that asks the company about a product lies
inside the question form or in the question's own clause without "I"/"we", that sentence's
already_has of the product (and owned, unless an acquisition cue says buying) is withdrawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from callscout import yamlfile
from callscout.extract.cues import CONTINUATION_WORDS, FRAGMENT_WORDS, is_long_ago, is_vague, possession_cues
from callscout.extract.products import INFLECTIONS, Mention, ProductMatcher, squash
from callscout.extract.rules import RuleSet, compile_patterns, one_pattern
from callscout.extract.turns import Turn, make_signal, previous_agent_turn, prompt_views
from callscout.extract.views import SentenceView
from callscout.records import Signal

REQUESTED = "requested"
STATED = 0.9  # a request form
ELLIPTIC = 0.8  # a bare product name made a request by "please", "and ..." or the agent's prompt
QUESTION_FORMS = ("offer_question", "price_question", "obtain_question", "quote")  # questions to the company

Span = tuple[int, int]


@dataclass(frozen=True)
class RequestRules:
    """The ``requests`` section of a language's rule file, compiled."""

    forms: dict[str, re.Pattern]  # class of expressions -> its patterns as one alternation
    coordinators: frozenset[str]
    elliptic_words: frozenset[str]
    please: re.Pattern
    additive: re.Pattern
    open_prompt: re.Pattern
    own_product: frozenset[str]
    not_request: re.Pattern
    polite_condition: re.Pattern
    reported: re.Pattern


def _patterns(raw, where: str) -> re.Pattern:
    return one_pattern(compile_patterns(raw, where))


def _words(raw) -> frozenset[str]:
    return frozenset(str(w).lower() for w in raw or ())


@lru_cache(maxsize=None)
def load_request_rules(language: str) -> RequestRules:
    text = resources.files("callscout.data").joinpath("rules", f"{language}.yaml").read_text(encoding="utf-8")
    raw = (yamlfile.safe_load(text) or {}).get("requests") or {}
    where = f"rules/{language}.yaml.requests"
    return RequestRules(
        forms={name: _patterns(p, f"{where}.forms.{name}") for name, p in (raw.get("forms") or {}).items()},
        coordinators=_words(raw.get("coordinators")),
        elliptic_words=_words(raw.get("elliptic_words")),
        please=_patterns(raw.get("please"), f"{where}.please"),
        additive=_patterns(raw.get("additive"), f"{where}.additive"),
        open_prompt=_patterns(raw.get("open_prompt"), f"{where}.open_prompt"),
        own_product=_words(raw.get("own_product")),
        not_request=_patterns(raw.get("not_request"), f"{where}.not_request"),
        polite_condition=_patterns(raw.get("polite_condition"), f"{where}.polite_condition"),
        reported=_patterns(raw.get("reported"), f"{where}.reported"),
    )


@dataclass(frozen=True)
class Request:
    product_id: str
    confidence: float
    question_spans: tuple[Span, ...]  # questions to the company in the sentence ("haben Sie", "was kostet")


def request_signals(turns: list[Turn], matcher: ProductMatcher, rules: RuleSet, signals: list[Signal]) -> list[Signal]:
    """``signals`` plus a ``requested`` signal per product a customer sentence asks for, less
    the already_has/owned that ownership read into a question to the company."""
    req = load_request_rules(rules.language)
    said: dict[tuple[int | None, str], set[tuple[str, str]]] = {}
    for signal in signals:
        said.setdefault((signal.segment_idx, signal.evidence), set()).add((signal.kind, signal.label))
    requested, withdrawn = [], set()
    asked_before = False  # the customer's previous sentence requested something
    for position, turn in enumerate(turns):
        if not turn.is_customer:
            asked_before = False
            continue
        prompt = _prompt(previous_agent_turn(turns, position), req)
        for number, view in enumerate(turn.views):
            before = turn.views[number - 1] if number else None
            found = requests_in(view, matcher, rules, req, prompt, asked_before, before)
            asked_before = False
            stated = said.get((turn.index, view.evidence), set())
            for request in found:
                if ("declined", request.product_id) in stated:
                    continue
                if ("already_has", request.product_id) in stated:
                    if not _possession_only_asked(view, request):
                        continue
                    withdrawn.add((turn.index, view.evidence, "already_has", request.product_id))
                    if not view.has_cue("acquisition"):
                        withdrawn.add((turn.index, view.evidence, "owned", request.product_id))
                requested.append(make_signal(REQUESTED, request.product_id, turn, view.evidence, request.confidence))
                asked_before = True
    kept = [s for s in signals if (s.segment_idx, s.evidence, s.kind, s.label) not in withdrawn]
    return kept + requested


def _prompt(agent: Turn | None, req: RequestRules) -> str:
    """'open' after "Anything else?", 'holdings' after "Which ones do you have?", else ''."""
    if agent is None or not agent.views:
        return ""
    if any(req.open_prompt.search(view.text) for view in agent.views[-2:]):
        return "open"
    if any(view.has_cue("second_person_possession") for view in prompt_views(agent)):
        return "holdings"
    return ""


def requests_in(
    view: SentenceView,
    matcher: ProductMatcher,
    rules: RuleSet,
    req: RequestRules,
    prompt: str = "",
    asked_before: bool = False,
    before: SentenceView | None = None,
) -> list[Request]:
    """The products one customer sentence requests (ownership not yet considered). ``prompt``:
    what the agent's turn before asked (``_prompt``); ``before``: the turn's previous sentence."""
    mentions = mentions_with_shared_heads(view, matcher, rules, req)
    if not mentions or req.not_request.search(view.text):
        return []
    forms = _form_spans(view, req)
    if forms:
        counted = [(name, span) for name, span in forms if _form_counts(view, span, rules, req)]
        if not counted:
            return []
        confidence = STATED
    elif _elliptic(view, mentions, rules, req) and _elliptic_request(view, req, prompt, asked_before):
        counted, confidence = [], ELLIPTIC
    else:
        return []
    spans = [span for _, span in counted]
    if _vague(view, spans) or _after_vague_or_past(view, before):
        return []
    questions = tuple(span for name, span in counted if name in QUESTION_FORMS)
    found: dict[str, Request] = {}
    for mention in mentions:
        if _blocked(view, mention, spans, rules, req):
            continue
        found.setdefault(mention.product_id, Request(mention.product_id, confidence, questions))
    return list(found.values())


def mentions_with_shared_heads(
    view: SentenceView, matcher: ProductMatcher, rules: RuleSet, req: RequestRules
) -> list[Mention]:
    """The matcher's mentions, plus a modifier before a coordinator whose compound with the next
    mention's head names a product ("kfz- und hausratversicherung" -> Kfz-Versicherung too)."""
    found = list(matcher.find(view))
    if not found:
        return found
    starts = {m.start: m for m in found}
    taken = {i for m in found for i in range(m.start, m.end)}
    words = view.words
    for i in range(len(words) - 2, -1, -1):
        if i in taken:
            continue
        after = i + 2 if words[i + 1] in req.coordinators else (i + 1 if words[i].endswith("-") else None)
        if after is not None and after not in starts and after < len(words) and words[after] in req.elliptic_words:
            after += 1  # an article: "eine kfz- und eine hausratversicherung"
        following = starts.get(after) if after is not None else None
        head = _head(words[following.end - 1], rules) if following is not None else None
        product = matcher.keys.get(squash(words[i]) + head) if head else None
        if product and product != following.product_id:
            mention = Mention(product, i, i + 1)
            starts[i] = mention
            taken.add(i)
            found.append(mention)
    return sorted(found, key=lambda m: m.start)


def _head(word: str, rules: RuleSet) -> str | None:
    """The generic head a product name's last word ends in ("hausratversicherung" -> "versicherung")."""
    for head in sorted(rules.generic_heads, key=len, reverse=True):
        for suffix in INFLECTIONS:
            if word.endswith(head + suffix) and (word == head + suffix or rules.language == "de"):
                return head
    return None


def _form_spans(view: SentenceView, req: RequestRules) -> list[tuple[str, Span]]:
    key = ("request_forms", id(req))
    if key not in view.memo:
        view.memo[key] = [(name, span) for name, pattern in req.forms.items() for span in view.find(pattern, lemmas=False)]
    return view.memo[key]


def _overlaps(span: Span, spans: list[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def _form_counts(view: SentenceView, form: Span, rules: RuleSet, req: RequestRules) -> bool:
    """Not negated ("I don't need ..."), not someone else's wish or words."""
    if _negated(view, view.clause_range(form[0]), [form], rules):
        return False
    if any(start < form[0] for start, _ in view.cue_spans("reported")):
        return False
    return not any(start < form[0] for start, _ in view.find(req.reported, lemmas=False))


def _negated(view: SentenceView, clause: range, forms: list[Span], rules: RuleSet) -> bool:
    """A negation in the clause, except an opening "no"/"nein" right before a request form
    ("No, I'd like a credit card" without the comma)."""
    for start, end in view.cue_spans("negation"):
        if not (start in clause or (start < clause.start and end > clause.start)):
            continue
        opening = start == _first_word(view, rules) and any(form[0] == end for form in forms)
        if not opening:
            return True
    return False


def _first_word(view: SentenceView, rules: RuleSet) -> int:
    """The first word after fillers ("oh", "na")."""
    return next((i for i, word in enumerate(view.words) if word not in rules.fillers), 0)


def _vague(view: SentenceView, forms: list[Span]) -> bool:
    """A vague plan ("maybe", "irgendwann") outside the request forms themselves."""
    return any(not _overlaps(span, forms) for cue in ("hypothetical", "later") for span in view.cue_spans(cue))


def _after_vague_or_past(view: SentenceView, before: SentenceView | None) -> bool:
    """A short sentence continues the vague plan or the long-past story before it (as
    ``cues.assess_trigger`` reads life events)."""
    if before is None:
        return False
    if len(view) <= FRAGMENT_WORDS and is_vague(before):
        return True
    own_time = view.has_cue("recent") or view.has_cue("present")
    return len(view) <= CONTINUATION_WORDS and before.has_cue("long_ago") and not own_time


def _blocked(view: SentenceView, mention: Mention, forms: list[Span], rules: RuleSet, req: RequestRules) -> bool:
    clause = view.clause_range(mention.start)
    if _negated(view, clause, forms, rules):
        return True
    if any(word in req.own_product for word in view.words[max(0, mention.start - 2) : mention.start]):
        return True  # "my car insurance": the customer's own product
    if is_long_ago(view, mention.start):
        return True
    return _conditional(view, mention, forms, rules, req)


def _conditional(view: SentenceView, mention: Mention, forms: list[Span], rules: RuleSet, req: RequestRules) -> bool:
    """A condition before or around the mention ("if we buy the house, we'd need ..."), unless
    it is politeness ("if possible") or itself a request form ("ob Sie ... anbieten")."""
    for clause in sorted(set(view.clause_of[: mention.end])):
        text = view.clause_text(clause)
        if not any(p.search(text) for p in rules.cue("conditional")) or req.polite_condition.search(text):
            continue
        if any(view.clause_of[start] == clause for start, _ in forms):
            continue
        return True
    return False


def _elliptic(view: SentenceView, mentions: list[Mention], rules: RuleSet, req: RequestRules) -> bool:
    """Nothing but product names and the few words of an elliptic request."""
    named = {i for m in mentions for i in range(m.start, m.end)}
    allowed = req.elliptic_words | rules.fillers
    return all(i in named or word in allowed for i, word in enumerate(view.words))


def _elliptic_request(view: SentenceView, req: RequestRules, prompt: str, asked_before: bool) -> bool:
    if prompt == "open":
        return True
    if prompt == "holdings":  # "Welche Versicherungen haben Sie?" - "Hausrat und Haftpflicht."
        return False
    return asked_before or bool(req.please.search(view.text) or req.additive.search(view.text))


def _possession_only_asked(view: SentenceView, request: Request) -> bool:
    """The sentence asks the company, and none of its already-has cues says the customer has
    the product: each is part of the question ("haben Sie") or in the question's own clause,
    which has no "I"/"we" ("what does a credit card cost with you")."""
    questions = list(request.question_spans)
    cues = possession_cues(view, "already_has")
    if not questions or not cues:
        return False
    asked = {view.clause_of[start] for start, _ in questions}

    def in_question(cue: Span) -> bool:
        clause = view.clause_range(cue[0])
        return view.clause_of[cue[0]] in asked and not view.has_cue("first_person", clause)

    return all(_overlaps(cue, questions) or in_question(cue) for cue in cues)
