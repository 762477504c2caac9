"""Error classes for ``callscout eval``: each miss (false positive or false negative, opportunity
or life event) is put in exactly one class, from what the pipeline stored (the evidence text,
its speaker, the trigger's kind) and the gold annotation. The first rule that holds wins.

False negatives:

1. ``unlabelled_speaker``: a blocking signal (already_has / declined) came from an ``unknown`` speaker.
2. ``wrong_product``: an already_has / declined signal blocked the product (the gold does not
   suppress it), or the call also has a false positive from a need or complement trigger (the
   trigger was found but attached to another product).
3. ``missed``: no trigger found.

False positives (cues are the project's own, ``extract.rules.load_rules(lang).cue_scanners``;
the evidence is split into its parts where the pipeline joined a question and its answer with " — "):

1. ``suppressed_offered``: an opportunity for a product the gold marks suppressed.
2. ``unlabelled_speaker``: the evidence speaker is ``unknown``.
3. ``question_counted``: the evidence speaker is the agent, or a part of the evidence ends in "?".
4. ``negation``: the ``negation`` cue is in the evidence.
5. ``holder``: the ``third_party`` cue is in the evidence (someone else's event or product).
6. ``time``: the ``long_ago``, ``hypothetical`` or ``later`` cue, a part starting with the
   ``conditional`` cue (after a leading "und"/"and"/...), or words of a plan called off (``CALLED_OFF``).
7. ``wrong_product``: an opportunity from a complement of a product the gold does not list as
   owned, or from a need or complement trigger in a call that also misses an expected product.
8. ``other``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from callscout.extract.rules import SUPPORTED_LANGUAGES, load_rules

if TYPE_CHECKING:
    from callscout.evaluate import GoldCall, Miss

ERROR_CLASSES = (
    "missed", "question_counted", "negation", "holder", "time",
    "wrong_product", "unlabelled_speaker", "suppressed_offered", "other",
)
CALLED_OFF = {
    "de": re.compile(r"\b(abgeblasen|abgesagt|storniert|geplatzt|doch nicht|auf eis|verschoben|zerschlagen)\b", re.I),
    "en": re.compile(
        r"\b(called off|call(ed)? it off|cancel+ed|fell through|put on hold|postponed|didn't happen|never happened)\b", re.I
    ),
}
LEADING_CONJUNCTION = re.compile(r"^(und|and|aber|but|also|so)\s+", re.I)
BLOCKERS = ("already_has", "declined")
PRODUCT_TRIGGERS = ("need", "complement")


def _parts(evidence: str) -> list[str]:
    return [part.strip() for part in evidence.split(" — ") if part.strip()]


def _cue(language: str, name: str, text: str) -> bool:
    if language not in SUPPORTED_LANGUAGES:
        return False
    scanner = load_rules(language).cue_scanners.get(name)
    return bool(scanner and scanner.search(text))


def evidence_class(language: str, evidence: str, speaker: str) -> str | None:
    """The class a false positive's evidence alone points to (rules 2-6), or None."""
    parts = _parts(evidence)
    if speaker == "unknown":
        return "unlabelled_speaker"
    if speaker == "agent" or any(part.endswith("?") for part in parts):
        return "question_counted"
    if _cue(language, "negation", evidence):
        return "negation"
    if _cue(language, "third_party", evidence):
        return "holder"
    clauses = [LEADING_CONJUNCTION.sub("", part) for part in parts]  # "Und falls ..." -> "falls ..."
    if (any(_cue(language, cue, evidence) for cue in ("long_ago", "hypothetical", "later"))
            or any(_cue(language, "conditional", clause) for clause in clauses)
            or (language in CALLED_OFF and CALLED_OFF[language].search(evidence))):
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
