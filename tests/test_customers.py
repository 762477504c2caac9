"""Customer memory: a customer's calls form a timeline; open opportunities are updated, not
duplicated; the contact policy (decline cooldown, open cap) holds new ones back with a reason.

Calls are built by hand (signals -> ``match_opportunities`` on the finanz catalogue -> store),
so every test is fast; the CLI tests run ``callscout customer`` on such a store.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys

import pytest

from callscout.cli.render import render_call
from callscout.crm.export import export_opportunities
from callscout.match.catalogue import Policy, load_catalogue
from callscout.match.opportunities import match_opportunities
from callscout.records import CallRecord, CallResult, Segment, Signal, Transcript
from callscout.store.database import Store
from callscout.store.history import customer_timeline
from callscout.store.rows import call_id_for, evidence_id_for, opportunity_id_for
from tests.conftest import FIXTURES

CATALOGUE = load_catalogue(FIXTURES / "catalogues" / "finanz.yaml")
MOVING = ("life_event", "moving", "Wir ziehen nächsten Monat nach Leipzig um")
MOVED = ("life_event", "moving", "Der Umzug nach Leipzig ist jetzt durch")
BABY = ("life_event", "new_child", "Wir bekommen im Sommer ein Baby")
CAR = ("life_event", "vehicle_purchase", "Wir kaufen uns ein neues Auto")
NO_LIFE = ("declined", "risikoleben", "Eine Lebensversicherung will ich nicht")
VOLATILE = {"processed_at", "updated_at"}
TABLES = ("calls", "segments", "signals", "opportunities", "opportunity_evidence", "outcomes")


def ticking_clock():
    ticks = iter(range(1, 3600))

    def now() -> str:
        tick = next(ticks)
        return f"2024-06-01T10:{tick // 60:02d}:{tick % 60:02d}.000000+00:00"

    return now


def make_call(name: str, customer: str | None, recorded_at: str | None, *said: tuple[str, str, str]):
    sha = hashlib.sha256(name.encode()).hexdigest()
    record = CallRecord(
        id=call_id_for(sha), source_path=f"/calls/{name}", source_sha256=sha, status="processing",
        customer_id=customer, recorded_at=recorded_at, catalogue=CATALOGUE.name,
    )
    segments = [Segment("customer", text, float(i), float(i) + 1.0, "Kunde") for i, (_, _, text) in enumerate(said)]
    signals = [Signal(kind, label, text, "customer", float(i), float(i) + 1.0, 0.9, i) for i, (kind, label, text) in enumerate(said)]
    result = CallResult(Transcript(segments, language="de"), signals, match_opportunities(signals, CATALOGUE))
    return record, result


def save(store: Store, name: str, customer: str | None, recorded_at: str | None, *said) -> str:
    return store.save_call(*make_call(name, customer, recorded_at, *said))


def opportunities(store: Store, **where) -> dict[str, dict]:
    rows = store.db.query("SELECT * FROM opportunities ORDER BY created_at, id")
    return {row["product_id"]: row for row in rows if all(row[k] == v for k, v in where.items())}


def evidence_calls(store: Store, opportunity_id: str) -> list[str]:
    rows = store.db.execute(
        "SELECT call_id FROM opportunity_evidence WHERE opportunity_id = ? ORDER BY added_at, id", [opportunity_id]
    )
    return [call_id for (call_id,) in rows]


def snapshot(store: Store) -> dict[str, list[dict]]:
    return {
        table: [{k: v for k, v in row.items() if k not in VOLATILE} for row in store.db.query(f"SELECT * FROM {table} ORDER BY id")]
        for table in TABLES
    }


@pytest.fixture
def store():
    with Store(":memory:", clock=ticking_clock()) as store:
        yield store


def three_calls(store: Store) -> tuple[str, str, str]:
    """K-1 moves and declines life insurance (call 1), mentions the move again and a baby
    (call 2, six weeks later), and buys a car (call 3)."""
    first = save(store, "k1-januar.txt", "K-1", "2024-01-10T09:00:00", MOVING, NO_LIFE)
    second = save(store, "k1-februar.txt", "K-1", "2024-02-20T09:00:00", MOVED, BABY)
    third = save(store, "k1-maerz.txt", "K-1", "2024-03-05T09:00:00", CAR)
    return first, second, third


def test_three_calls_event_repeated_decline_honoured_cap_reached(store):
    first, second, third = three_calls(store)
    rows = opportunities(store)

    # Call 1: moving -> hausrat, haftpflicht (open). Life insurance was declined: not offered.
    assert {p for p, row in rows.items() if row["call_id"] == first} == {"hausrat", "haftpflicht"}
    # Call 2 repeats the move and adds a baby: hausrat and haftpflicht get evidence, no duplicates.
    for product in ("hausrat", "haftpflicht"):
        assert rows[product]["call_id"] == first and rows[product]["status"] == "open"
        assert evidence_calls(store, rows[product]["id"]) == [first, second]
    assert sum(1 for row in store.db.query("SELECT product_id FROM opportunities") if row["product_id"] == "hausrat") == 1
    # ... risikoleben (declined 41 days before, cooldown 90) is held; juniordepot is the third open one.
    assert (rows["risikoleben"]["status"], rows["risikoleben"]["call_id"]) == ("held", second)
    assert rows["risikoleben"]["held_reason"] == f"declined_cooldown: declined in call {first} on 2024-01-10"
    assert (rows["juniordepot"]["status"], rows["juniordepot"]["held_reason"]) == ("open", None)
    # Call 3: kfz and autokredit would be the 4th and 5th open opportunity: held by the cap.
    for product in ("kfz", "autokredit"):
        assert (rows[product]["status"], rows[product]["call_id"]) == ("held", third)
        assert rows[product]["held_reason"] == "max_open_per_customer: 3 open"
    assert sorted(p for p, row in rows.items() if row["status"] == "open") == ["haftpflicht", "hausrat", "juniordepot"]
    # Every call that triggered an opportunity has one evidence row for it.
    assert evidence_calls(store, rows["kfz"]["id"]) == [third]
    assert store.db["opportunity_evidence"].count == 2 + 2 + 2 + 2


def test_appending_evidence_bumps_updated_at_only(store):
    first = save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    before = opportunities(store)["hausrat"]
    save(store, "b.txt", "K-1", "2024-02-10T09:00:00", MOVED)
    after = opportunities(store)["hausrat"]
    assert after["updated_at"] > before["updated_at"]
    assert {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in before.items() if k != "updated_at"}
    assert after["call_id"] == first and after["evidence"] == MOVING[2]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 0, 2, 2)])
def test_saving_any_call_again_changes_nothing(store, order):
    three_calls(store)
    before = snapshot(store)
    calls = [
        make_call("k1-januar.txt", "K-1", "2024-01-10T09:00:00", MOVING, NO_LIFE),
        make_call("k1-februar.txt", "K-1", "2024-02-20T09:00:00", MOVED, BABY),
        make_call("k1-maerz.txt", "K-1", "2024-03-05T09:00:00", CAR),
    ]
    for index in order:
        store.save_call(*calls[index])
    assert snapshot(store) == before


def test_first_call_saved_again_keeps_later_evidence_and_crm_status(store):
    first, second, _ = three_calls(store)
    hausrat = opportunity_id_for(first, "hausrat", CATALOGUE.name)
    store.db.execute("UPDATE opportunities SET status = 'won', amount = 180, closed_at = '2024-03-01' WHERE id = ?", [hausrat])

    store.save_call(*make_call("k1-januar.txt", "K-1", "2024-01-10T09:00:00", MOVING, NO_LIFE))

    row = store.db["opportunities"].get(hausrat)
    assert (row["status"], row["amount"], row["closed_at"]) == ("won", 180, "2024-03-01")
    assert evidence_calls(store, hausrat) == [first, second]


def test_opportunity_a_later_call_confirmed_survives_when_its_first_call_no_longer_triggers_it(store):
    first = save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    second = save(store, "b.txt", "K-1", "2024-02-10T09:00:00", MOVED)
    hausrat = opportunity_id_for(first, "hausrat", CATALOGUE.name)

    store.save_call(*make_call("a.txt", "K-1", "2024-01-10T09:00:00", CAR))  # e.g. another extractor

    row = store.db["opportunities"].get(hausrat)
    assert (row["call_id"], row["status"], row["evidence"]) == (first, "open", MOVED[2])
    assert evidence_calls(store, hausrat) == [second]
    assert store.db.execute("SELECT count(*) FROM opportunity_evidence WHERE call_id = ?", [first]).fetchone()[0] == 2  # kfz, autokredit


def test_calls_without_a_customer_id_are_never_merged(store):
    first = save(store, "a.txt", None, "2024-01-10T09:00:00", MOVING, NO_LIFE)
    second = save(store, "b.txt", None, "2024-01-11T09:00:00", MOVED, BABY)
    rows = list(store.db.query("SELECT call_id, product_id, status FROM opportunities ORDER BY call_id, product_id"))
    assert [(r["call_id"], r["product_id"]) for r in rows if r["product_id"] == "hausrat"] == sorted(
        [(first, "hausrat"), (second, "hausrat")]
    )
    assert {r["status"] for r in rows} == {"open"}  # no cap, no cooldown without a customer


def test_other_customers_and_catalogues_do_not_share(store):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING, NO_LIFE)
    save(store, "b.txt", "K-2", "2024-01-11T09:00:00", MOVED, BABY)
    rows = opportunities(store, customer_id="K-2")
    # K-1's decline does not count for K-2; equal scores are placed by product id.
    assert {p: r["status"] for p, r in rows.items()} == {
        "haftpflicht": "open", "hausrat": "open", "juniordepot": "open", "risikoleben": "held",
    }
    assert rows["risikoleben"]["held_reason"] == "max_open_per_customer: 3 open"


def test_decline_older_than_the_cooldown_is_not_honoured(store):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", NO_LIFE)
    save(store, "b.txt", "K-1", "2024-04-10T09:00:01", BABY)  # 91 days later
    assert opportunities(store)["risikoleben"]["status"] == "open"


@pytest.mark.parametrize("decline_saved_first", [False, True])
def test_a_decline_in_a_later_call_holds_the_open_opportunity_of_an_earlier_one(store, decline_saved_first):
    """The customer's latest word is "no": the earlier call's opportunity is held, whichever
    call is saved first, and saving either again changes nothing."""
    calls = [
        make_call("earlier.txt", "K-1", "2024-02-01T09:00:00", BABY),
        make_call("later.txt", "K-1", "2024-05-01T09:00:00", NO_LIFE),  # 90 days on: past the cooldown
    ]
    for record, result in calls[::-1] if decline_saved_first else calls:
        store.save_call(record, result)
    earlier, later = (record.id for record, _ in calls)
    rows = opportunities(store)
    assert (rows["risikoleben"]["call_id"], rows["risikoleben"]["status"]) == (earlier, "held")
    assert rows["risikoleben"]["held_reason"] == f"declined_later: declined in call {later} on 2024-05-01"
    assert rows["juniordepot"]["status"] == "open"  # what the customer did not decline stays open
    before = snapshot(store)
    for record, result in calls:
        store.save_call(record, result)
    assert snapshot(store) == before


def test_a_decline_holds_a_later_calls_open_opportunity_only_within_the_cooldown(store):
    """Saved out of order: the later calls' opportunities exist before the decline is saved."""
    save(store, "soon.txt", "K-1", "2024-02-01T09:00:00", BABY)  # 22 days after the decline
    save(store, "k-2.txt", "K-2", "2024-02-01T09:00:00", BABY)  # another customer
    declined = save(store, "decline.txt", "K-1", "2024-01-10T09:00:00", NO_LIFE)
    save(store, "much-later.txt", "K-3", "2024-06-01T09:00:00", BABY)
    held = opportunities(store, customer_id="K-1")["risikoleben"]
    assert (held["status"], held["held_reason"]) == ("held", f"declined_cooldown: declined in call {declined} on 2024-01-10")
    assert opportunities(store, customer_id="K-2")["risikoleben"]["status"] == "open"


def test_call_time_falls_back_to_processed_at(store):
    save(store, "a.txt", "K-1", None, NO_LIFE)  # processed_at from the ticking clock: 2024-06-01
    save(store, "b.txt", "K-1", "2024-06-20T09:00:00", BABY)
    assert opportunities(store)["risikoleben"]["held_reason"].startswith("declined_cooldown: declined in call")


def test_crm_outcomes_hold_the_product_for_the_cooldown(store):
    first = save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    store.db.execute(
        "UPDATE opportunities SET status = 'lost', closed_at = '2024-02-01' WHERE id = ?", [opportunity_id_for(first, "hausrat", CATALOGUE.name)]
    )
    store.db.execute(
        "UPDATE opportunities SET status = 'won', closed_at = '2024-02-02' WHERE id = ?", [opportunity_id_for(first, "haftpflicht", CATALOGUE.name)]
    )
    save(store, "b.txt", "K-1", "2024-03-01T09:00:00", MOVED)
    rows = opportunities(store, call_id=call_id_for(hashlib.sha256(b"b.txt").hexdigest()))
    assert rows["hausrat"]["held_reason"] == f"crm_lost: lost in the CRM on 2024-02-01 (opportunity {opportunity_id_for(first, 'hausrat', CATALOGUE.name)})"
    assert rows["haftpflicht"]["held_reason"].startswith("crm_won: won in the CRM on 2024-02-02")
    save(store, "c.txt", "K-1", "2024-06-01T09:00:00", MOVED)  # 4 months after the loss
    rows = opportunities(store, call_id=call_id_for(hashlib.sha256(b"c.txt").hexdigest()))
    assert rows["hausrat"]["status"] == "open"


def test_policy_comes_from_the_store_per_catalogue(tmp_path):
    strict = Policy(max_open_per_customer=1, decline_cooldown_days=0)
    with Store(tmp_path / "calls.db", policies={CATALOGUE.name: strict}) as store:
        save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING, NO_LIFE)
        save(store, "b.txt", "K-1", "2024-01-11T09:00:00", BABY)
        rows = opportunities(store)
    assert [p for p, r in rows.items() if r["status"] == "open"] == ["haftpflicht"]  # best score first: equal, by id
    assert rows["risikoleben"]["held_reason"] == "max_open_per_customer: 1 open"  # cooldown 0: off


def test_show_and_timeline_name_held_reasons(store):
    first, second, third = three_calls(store)
    text = render_call(store.call_detail(second))
    assert f"held: declined_cooldown: declined in call {first} on 2024-01-10" in text
    assert f"again: evidence added to opportunity {opportunity_id_for(first, 'hausrat', CATALOGUE.name)} of call {first} (open)" in text
    assert "held: max_open_per_customer: 3 open" in render_call(store.call_detail(third))


def test_timeline_in_time_order(store):
    first = save(store, "k1-januar.txt", "K-1", "2024-01-10T09:00:00", MOVING, NO_LIFE)
    third = save(store, "k1-maerz.txt", "K-1", None, CAR)  # processed second; no recorded_at: processed_at
    second = save(store, "k1-februar.txt", "K-1", "2024-02-20T09:00:00", MOVED, BABY)
    save(store, "other.txt", "K-2", "2024-02-01T09:00:00", MOVING)

    timeline = customer_timeline(store.db, "K-1")

    assert [c.id for c in timeline.calls] == [first, second, third]
    assert [e["label"] for e in timeline.calls[1].life_events] == ["moving", "new_child"]
    assert [d["label"] for d in timeline.calls[0].declined] == ["risikoleben"]
    triggered = {o["product_id"]: o for o in timeline.calls[1].opportunities}
    assert triggered["hausrat"]["first"] is False and triggered["hausrat"]["opportunity_id"] == opportunity_id_for(first, "hausrat", CATALOGUE.name)
    assert triggered["juniordepot"]["first"] is True
    assert {o["product_id"]: o["calls"] for o in timeline.opportunities}["hausrat"] == 2
    assert customer_timeline(store.db, "nobody") is None


def callscout(*args):
    return subprocess.run([sys.executable, "-m", "callscout", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_customer_command_text_and_json(tmp_path):
    db = tmp_path / "calls.db"
    with Store(db) as store:
        first, second, third = three_calls(store)

    text = callscout("customer", "K-1", "--db", db)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "customer K-1: 3 calls, 6 opportunities (3 open, 3 held)"
    starts = [line for line in lines if " call " in line and line[:4].isdigit()]
    assert [line.split()[2] for line in starts] == [first, second, third]
    assert any("~ Hausratversicherung [life_event: moving] again, evidence added, open" in line for line in lines)
    assert any(f"declined_cooldown: declined in call {first}" in line for line in lines)

    as_json = callscout("customer", "K-1", "--db", db, "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [c["id"] for c in data["calls"]] == [first, second, third]
    assert data["calls"][0]["at"] == "2024-01-10T09:00:00"
    held = {o["product_id"]: o["held_reason"] for o in data["opportunities"] if o["status"] == "held"}
    assert held["kfz"] == "max_open_per_customer: 3 open"

    missing = callscout("customer", "K-404", "--db", db)
    assert (missing.returncode, missing.stderr.strip()) == (1, f"error: K-404: no calls of this customer in {db}")


def test_held_opportunities_stay_out_of_crm_files_but_not_csv(store, tmp_path):
    three_calls(store)
    held = {row["id"] for row in store.db.query("SELECT id FROM opportunities WHERE status = 'held'")}
    assert len(held) == 3
    assert export_opportunities(store, "salesforce", tmp_path / "sf.csv") == 3
    assert export_opportunities(store, "hubspot", tmp_path / "hs.csv") == 3
    assert not any(opportunity_id in (tmp_path / "sf.csv").read_text() for opportunity_id in held)
    assert export_opportunities(store, "jsonl", tmp_path / "all.jsonl") == 6
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert {"status", "held_reason", "pitch_id"} <= set(rows[0])
    assert {r["id"] for r in rows if r["status"] == "held"} == held


def test_since_last_resends_an_opportunity_a_later_call_added_evidence_to(store, tmp_path):
    first = save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    output = tmp_path / "sf.csv"
    assert export_opportunities(store, "salesforce", output, since_last=True) == 2
    assert export_opportunities(store, "salesforce", output, since_last=True) == 0
    store.save_call(*make_call("a.txt", "K-1", "2024-01-10T09:00:00", MOVING))  # saved again: nothing new
    assert export_opportunities(store, "salesforce", output, since_last=True) == 0

    save(store, "b.txt", "K-1", "2024-02-10T09:00:00", MOVED)

    assert export_opportunities(store, "salesforce", output, since_last=True) == 2
    text = output.read_text(encoding="utf-8")
    descriptions = {row["Callscout_Id__c"]: row["Description"] for row in csv.DictReader(io.StringIO(text))}
    assert f"Again on 2024-02-10 (life event 'moving'): [00:00:00] customer: \"{MOVED[2]}\"" in (
        descriptions[opportunity_id_for(first, "hausrat", CATALOGUE.name)]
    )
    assert export_opportunities(store, "salesforce", output, since_last=True) == 0


def test_evidence_ids_are_stable():
    assert evidence_id_for("opp", "call") == hashlib.sha256(b"opp:call").hexdigest()[:16]


CALLS = {
    "2024-01_k7.txt": ("2024-01-10T09:00:00", "Berater: Guten Tag, was kann ich für Sie tun?\n"
                       "Kunde: Wir ziehen nächsten Monat nach Leipzig um.\n"
                       "Berater: Haben Sie schon über eine Lebensversicherung nachgedacht?\n"
                       "Kunde: Eine Lebensversicherung will ich nicht.\n"),
    "2024-02_k7.txt": ("2024-02-20T09:00:00", "Berater: Schön, dass Sie wieder anrufen.\n"
                       "Kunde: Der Umzug nach Leipzig ist geschafft, wir sind letzte Woche umgezogen.\n"
                       "Kunde: Und wir bekommen im Sommer ein Baby.\n"),
    "2024-03_k7.txt": ("2024-03-05T09:00:00", "Berater: Was gibt es Neues?\n"
                       "Kunde: Wir haben uns gerade ein neues Auto gekauft.\n"),
}


@pytest.mark.parametrize("names_sort", ["in time order", "against time order"])
def test_three_real_calls_through_the_cli(tmp_path, names_sort):
    """process (real extraction, hashing encoder), customer --json, show, and process again.

    A batch is processed in recording order whatever the file names, so the January
    decline is in the store before the February call is judged.
    """
    from tests.test_bad_inputs import cli_env, query

    inbox = tmp_path / "calls"
    inbox.mkdir()
    for position, (name, (recorded_at, text)) in enumerate(CALLS.items()):
        if names_sort == "against time order":
            name = f"{'zyx'[position]}-{name}"
        (inbox / name).write_text(text, encoding="utf-8")
        (inbox / name).with_suffix(".meta.json").write_text(json.dumps({"customer_id": "K-7", "recorded_at": recorded_at}))
    db = tmp_path / "calls.db"

    def run(*args):
        command = [sys.executable, "-m", "callscout", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=cli_env(tmp_path), timeout=300)

    processed = run("process", inbox, "--catalogue", CATALOGUE.path, "--db", db)
    assert processed.returncode == 0, processed.stderr
    data = json.loads(run("customer", "K-7", "--db", db, "--json").stdout)
    first, second, third = (c["id"] for c in data["calls"])
    assert [[e["label"] for e in c["life_events"]] for c in data["calls"]] == [["moving"], ["moving", "new_child"], ["vehicle_purchase"]]
    assert [d["label"] for d in data["calls"][0]["declined"]] == ["risikoleben"]
    placed = {(c["id"], o["product_id"]): (o["first"], o["status"]) for c in data["calls"] for o in c["opportunities"]}
    assert placed == {
        (first, "hausrat"): (True, "open"), (first, "haftpflicht"): (True, "open"),
        (second, "hausrat"): (False, "open"), (second, "haftpflicht"): (False, "open"),  # the move, again
        (second, "juniordepot"): (True, "open"), (second, "risikoleben"): (True, "held"),
        (third, "kfz"): (True, "held"), (third, "autokredit"): (True, "held"),
    }
    reasons = {o["product_id"]: o["held_reason"] for o in data["opportunities"] if o["status"] == "held"}
    assert reasons == {
        "risikoleben": f"declined_cooldown: declined in call {first} on 2024-01-10",
        "kfz": "max_open_per_customer: 3 open",
        "autokredit": "max_open_per_customer: 3 open",
    }
    shown = run("show", second, "--db", db)
    assert f"held: declined_cooldown: declined in call {first} on 2024-01-10" in shown.stdout

    tables = ("opportunities", "opportunity_evidence")
    before = {t: query(db, f"SELECT * FROM {t} ORDER BY id") for t in tables}
    again = run("process", inbox, "--catalogue", CATALOGUE.path, "--db", db)
    assert again.returncode == 0 and "unchanged: 3" in again.stderr, again.stderr
    assert {t: query(db, f"SELECT * FROM {t} ORDER BY id") for t in tables} == before
