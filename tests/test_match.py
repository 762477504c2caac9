from __future__ import annotations

import dataclasses

from callscout.catalogue import Policy, parse_catalogue
from callscout.match import match_opportunities
from callscout.records import Signal

CATALOGUE = parse_catalogue(
    {
        "catalogue": "t",
        "policy": {"max_opportunities_per_call": 2},
        "products": [
            {"id": "phone", "name": "Phone"},
            {"id": "case", "name": "Case", "triggers": {"complements": ["phone"]}, "pitch": "A case."},
            {"id": "home", "name": "Home", "triggers": {"life_events": ["moving"]}},
            {"id": "liab", "name": "Liability", "triggers": {"life_events": ["moving"], "needs": ["who pays"]}},
        ],
    }
)


def signal(kind: str, label: str, confidence: float = 0.9) -> Signal:
    return Signal(kind, label, f"evidence {label}", "customer", 1.0, 2.0, confidence, 3)


def test_one_opportunity_per_product_best_trigger():
    opps = match_opportunities([signal("life_event", "moving", 0.7), signal("need", "liab", 0.95)], CATALOGUE, apply_policy=False)
    liab = next(o for o in opps if o.product_id == "liab")
    assert liab.trigger_kind == "need" and len(opps) == 2


def test_complement_and_pitch():
    (opp,) = match_opportunities([signal("owned", "phone")], CATALOGUE)
    assert (opp.product_id, opp.trigger_kind, opp.pitch, opp.start) == ("case", "complement", "A case.", 1.0)


def test_suppression_and_no_trigger_product():
    opps = match_opportunities([signal("life_event", "moving"), signal("declined", "home"), signal("owned", "phone")], CATALOGUE)
    assert {o.product_id for o in opps} == {"liab", "case"}
    assert "phone" not in {o.product_id for o in opps}


def test_sensitive_flags_and_policy():
    signals = [signal("life_event", "moving"), signal("sensitive", "health")]
    assert all(o.sensitive_call for o in match_opportunities(signals, CATALOGUE))
    strict = dataclasses.replace(CATALOGUE, policy=Policy(suppress_sensitive_calls=True))
    assert match_opportunities(signals, strict) == []
    assert match_opportunities([signal("sensitive", "health")], CATALOGUE) == []


def test_cut_and_min_score():
    signals = [signal("life_event", "moving", 0.9), signal("owned", "phone", 0.5)]
    assert len(match_opportunities(signals, CATALOGUE)) == 2
    assert len(match_opportunities(signals, CATALOGUE, apply_policy=False)) == 3
    picky = dataclasses.replace(CATALOGUE, policy=Policy(min_score=0.8))
    assert {o.product_id for o in match_opportunities(signals, picky)} == {"home", "liab"}
