"""Error classes for ``callscout eval``: each miss (false positive or false negative, opportunity
or life event) is put in exactly one class, from what the pipeline stored (the evidence text,
its speaker, the trigger's kind) and the gold annotation. The first rule that holds wins.

False negatives:

1. ``unlabelled_speaker``: a blocking signal (already_has / declined) came from an ``unknown`` speaker.
2. ``wrong_product``: an already_has / declined signal blocked the product (the gold does not
   suppress it), or the call also has a false positive from a need or complement trigger (the
   trigger was found but attached to another product).
3. ``missed``: no trigger found.

False positives (from the statement analysis of the evidence, ``extract.statements``, the same
the pipeline reads; the evidence is split into its parts where the pipeline joined a question
and its answer with " — "):

1. ``suppressed_offered``: an opportunity for a product the gold marks suppressed.
2. ``unlabelled_speaker``: the evidence speaker is ``unknown``.
3. ``question_counted``: the evidence speaker is the agent, or a sentence of it asks.
4. ``negation``: a sentence of it is negated.
5. ``holder``: a sentence of it is a third party's (someone else's event or product).
6. ``time``: a sentence of it is not current (long ago, called off, vague, conditional).
7. ``wrong_product``: an opportunity from a complement of a product the gold does not list as
   owned, or from a need or complement trigger in a call that also misses an expected product.
8. ``other``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callscout.extract.rules import SUPPORTED_LANGUAGES, load_rules
from callscout.extract.statements import CURRENT, NEGATED, QUESTION, THIRD_PARTY, Statement, analyse

if TYPE_CHECKING:
    from callscout.evaluation.quality import GoldCall, Miss

ERROR_CLASSES = (
    "missed", "question_counted", "negation", "holder", "time",
    "wrong_product", "unlabelled_speaker", "suppressed_offered", "other",
)
BLOCKERS = ("already_has", "declined")
PRODUCT_TRIGGERS = ("need", "complement")


def _parts(evidence: str) -> list[str]:
    return [part.strip() for part in evidence.split(" — ") if part.strip()]


def _statements(language: str, evidence: str) -> list[Statement]:
    """The statement analysis of every sentence of the evidence's parts."""
    if language not in SUPPORTED_LANGUAGES:
        return []
    from callscout.extract.pipeline import get_pipeline

    rules = load_rules(language)
    return [analyse(view, rules) for doc in get_pipeline(language).pipe(_parts(evidence)) for view in doc._.views or ()]


def evidence_class(language: str, evidence: str, speaker: str) -> str | None:
    """The class a false positive's evidence alone points to (rules 2-6), or None."""
    if speaker == "unknown":
        return "unlabelled_speaker"
    statements = _statements(language, evidence)
    if speaker == "agent" or any(s.act == QUESTION for s in statements):
        return "question_counted"
    if any(s.polarity == NEGATED for s in statements):
        return "negation"
    if any(s.holder == THIRD_PARTY for s in statements):
        return "holder"
    if any(s.time != CURRENT for s in statements):
        return "time"
    return None


def _kind(miss: Miss) -> str:
    return miss.trigger.split(":", 1)[0]


def classify(call: GoldCall, miss: Miss, misses: list[Miss]) -> str:
    """The error class of ``miss``; ``misses`` are all misses of the same call."""
    kind, opportunity = _kind(miss), miss.what == "opportunity"
    if miss.error == "false_negative":
        if kind in BLOCKERS:
            return "unlabelled_speaker" if miss.speaker == "unknown" else "wrong_product"
        if opportunity and any(m.error == "false_positive" and _kind(m) in PRODUCT_TRIGGERS for m in misses):
            return "wrong_product"
        return "missed"
    if opportunity and miss.label in call.suppressed:
        return "suppressed_offered"
    found = evidence_class(call.language, miss.evidence, miss.speaker)
    if found:
        return found
    if opportunity and kind in PRODUCT_TRIGGERS:
        owned_elsewhere = kind == "complement" and miss.trigger.split(":", 1)[1] not in call.owned
        if owned_elsewhere or any(m.what == "opportunity" and m.error == "false_negative" for m in misses):
            return "wrong_product"
    return "other"
