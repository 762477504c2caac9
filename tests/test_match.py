from __future__ import annotations

import dataclasses

from callscout.match.catalogue import Policy, parse_catalogue
from callscout.match.opportunities import choose_pitch, match_opportunities
from callscout.records import Pitch, Signal
from callscout.store.database import Store
from callscout.store.rows import opportunity_id_for

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


EXPECTED_AB = "abbabaaabaaa"  # choose_pitch for the ids 0000000000000000 .. 000000000000000b
AB = parse_catalogue(
    {
        "catalogue": "ab",
        "products": [
            {"id": "home", "name": "Home", "triggers": {"life_events": ["moving"]},
             "pitches": [{"id": "a", "text": "Pitch A."}, {"id": "b", "text": "Pitch B."}]},
            {"id": "liab", "name": "Liability", "triggers": {"life_events": ["moving"]}, "pitch": "Only one."},
        ],
    }
)


def test_opportunities_carry_the_products_pitch_variants():
    home, liab = match_opportunities([signal("life_event", "moving")], AB)
    assert home.pitches == (Pitch("a", "Pitch A."), Pitch("b", "Pitch B."))
    assert liab.pitches == (Pitch("default", "Only one."),)


def test_pitch_variant_is_a_pure_function_of_the_opportunity_id():
    home, liab = match_opportunities([signal("life_event", "moving")], AB)
    chosen = [choose_pitch(f"{n:016x}", home).id for n in range(12)]
    # Fixed for ever: the same ids get the same variants on any machine, in any run.
    assert chosen == [choose_pitch(f"{n:016x}", dataclasses.replace(home)).id for n in range(12)]
    assert "".join(chosen) == EXPECTED_AB
    assert chosen.count("a") > 2 and chosen.count("b") > 2
    assert {choose_pitch(f"{n:016x}", liab) for n in range(5)} == {Pitch("default", "Only one.")}
    no_variants = dataclasses.replace(liab, pitches=())
    assert choose_pitch("x", no_variants) == Pitch("default", "Only one.")


def test_store_records_the_chosen_pitch(tmp_path):
    import hashlib

    from callscout.records import CallRecord, CallResult, Transcript
    from callscout.store.rows import call_id_for

    rows = {}
    with Store(":memory:") as store:
        for n in range(8):
            sha = hashlib.sha256(f"call {n}".encode()).hexdigest()
            record = CallRecord(call_id_for(sha), f"/c/{n}.txt", sha, "processing", catalogue="ab")
            result = CallResult(Transcript([]), [], match_opportunities([signal("life_event", "moving")], AB))
            store.save_call(record, result)
            store.save_call(record, result)  # saved again: the same variant
        for row in store.db.query("SELECT id, call_id, product_id, pitch_id, pitch FROM opportunities"):
            rows[row["id"]] = row
    home = match_opportunities([signal("life_event", "moving")], AB)[0]
    for row in rows.values():
        assert row["id"] == opportunity_id_for(row["call_id"], row["product_id"], "ab")
        if row["product_id"] == "home":
            expected = choose_pitch(row["id"], home)
            assert (row["pitch_id"], row["pitch"]) == (expected.id, expected.text)
        else:
            assert (row["pitch_id"], row["pitch"]) == ("default", "Only one.")
    assert {row["pitch_id"] for row in rows.values() if row["product_id"] == "home"} == {"a", "b"}
