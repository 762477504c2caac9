"""Signals -> opportunities: which catalogue products to suggest for a call, and why."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from callscout.match.catalogue import DEFAULT_PITCH, Catalogue, Product
from callscout.records import Opportunity, Pitch, Signal

# How much each kind of trigger is worth relative to the signal's own confidence.
KIND_WEIGHT = {"life_event": 1.0, "need": 0.95, "complement": 0.85, "requested": 0.95}
SUPPRESSING = ("already_has", "declined")
REQUESTED = "requested"  # the customer asked for the product by name: the call's own subject
# ``opportunity_type`` of the exports: what the customer asked for, or a find to offer.
REQUEST, CROSS_SELL = "request", "cross_sell"


def opportunity_type(trigger_kind: str | None) -> str:
    return REQUEST if trigger_kind == REQUESTED else CROSS_SELL


@dataclass(frozen=True)
class Trigger:
    kind: str  # life_event, need, complement or requested
    label: str
    signal: Signal

    @property
    def score(self) -> float:
        return round(KIND_WEIGHT[self.kind] * self.signal.confidence, 3)


def triggers_for(product: Product, signals: list[Signal]) -> list[Trigger]:
    found = []
    for signal in signals:
        if signal.kind == "life_event" and signal.label in product.life_events:
            found.append(Trigger("life_event", signal.label, signal))
        elif signal.kind == "need" and signal.label == product.id and product.needs:
            found.append(Trigger("need", signal.label, signal))
        elif signal.kind == "owned" and signal.label in product.complements:
            found.append(Trigger("complement", signal.label, signal))
        elif signal.kind == REQUESTED and signal.label == product.id:
            found.append(Trigger(REQUESTED, signal.label, signal))
    return found


def best_trigger(triggers: list[Trigger]) -> Trigger:
    """The customer's own request is the evidence whenever there is one; else the best score."""
    requested = [t for t in triggers if t.kind == REQUESTED]
    return max(requested or triggers, key=lambda t: t.score)


def match_opportunities(signals: list[Signal], catalogue: Catalogue, apply_policy: bool = True) -> list[Opportunity]:
    """One opportunity per triggered product, best trigger as evidence, best first.

    Products the customer already has or declined are left out; sensitive signals never
    trigger anything, but mark the call's other opportunities ``sensitive_call``. With
    ``apply_policy`` the catalogue policy (suppress sensitive calls, min score, max per
    call) is applied; evaluation also looks at the list before the cut.

    Products the customer asked for (trigger ``requested``) come first; they are the call's
    subject, not finds, so min score and max per call cut only the cross-sell ones after them.
    """
    suppressed = {s.label for s in signals if s.kind in SUPPRESSING}
    sensitive_call = any(s.kind == "sensitive" for s in signals)
    policy = catalogue.policy
    if apply_policy and sensitive_call and policy.suppress_sensitive_calls:
        return []
    opportunities = []
    for product in catalogue.products:
        if not product.has_triggers or product.id in suppressed:
            continue
        triggers = triggers_for(product, signals)
        if triggers:
            opportunities.append(_opportunity(product, best_trigger(triggers), sensitive_call))
    opportunities.sort(key=lambda o: (-o.score, o.product_id))
    requests = [o for o in opportunities if o.trigger_kind == REQUESTED]
    cross_sell = [o for o in opportunities if o.trigger_kind != REQUESTED]
    if apply_policy:
        cross_sell = [o for o in cross_sell if o.score >= policy.min_score]
        cross_sell = cross_sell[: policy.max_opportunities_per_call]
    return requests + cross_sell


def _opportunity(product: Product, trigger: Trigger, sensitive_call: bool) -> Opportunity:
    signal = trigger.signal
    return Opportunity(
        product_id=product.id,
        product_name=product.name,
        trigger_kind=trigger.kind,
        trigger_label=trigger.label,
        evidence=signal.evidence,
        speaker=signal.speaker,
        start=signal.start,
        end=signal.end,
        score=trigger.score,
        pitch=product.pitch,
        sensitive_call=sensitive_call,
        pitches=product.pitches,
    )


def choose_pitch(opportunity_id: str, opportunity: Opportunity) -> Pitch:
    """The pitch variant for an opportunity: a pure function of its id (A/B tests reproduce).

    The id is a hash already, but hashing it again with a salt keeps the split independent
    of anything else derived from the id. Without variants, the opportunity's own ``pitch``.
    """
    variants = opportunity.pitches
    if len(variants) < 2:
        return Pitch(variants[0].id if variants else DEFAULT_PITCH, opportunity.pitch)
    digest = hashlib.sha256(f"pitch:{opportunity_id}".encode()).digest()
    return variants[int.from_bytes(digest[:8], "big") % len(variants)]
