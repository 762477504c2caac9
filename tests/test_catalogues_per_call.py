"""One call, many catalogues: a second catalogue adds its results and never removes another's.

The migration (005) is tested on a store written by release 0.1.0 (migrations 001-004):
``tests/data/store_0.1.0_migrations_001-004.db`` holds ``fixtures/calls/kunde_hochzeit.txt``
processed with ``finanz.yaml``, its Hausrat opportunity closed as won in the CRM (480) and one
``--since-last`` CSV export.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from callscout.records import CallRecord, CallResult, Opportunity, Segment, Signal, Transcript
from callscout.store.database import Store
from callscout.store.rows import call_id_for

ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = ROOT / "fixtures" / "catalogues"
RELEASE_STORE = Path(__file__).with_name("data") / "store_0.1.0_migrations_001-004.db"
RELEASE_CALL = "29d13259d0d62423"
RELEASE_OPPORTUNITIES = {"4b74b57396cf9a22": ("hausrat", "won"), "23444c8cc3e6ed0c": ("risikoleben", "open")}

# Written for this test, in no call set: a move (finanz: contents insurance) and a laptop the
# customer just bought (technik: its complements).
TRANSCRIPT = """\
[00:00:00] Berater: Guten Tag, was kann ich für Sie tun?
[00:00:04] Kunde: Wir sind vor zwei Wochen in eine größere Wohnung umgezogen.
[00:00:10] Berater: Schön. Und sonst?
[00:00:13] Kunde: Außerdem habe ich mir letzte Woche einen neuen Laptop gekauft.
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CALLSCOUT_ENCODER": "hashing"}
    return subprocess.run([sys.executable, "-m", "callscout", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def table(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def snapshot(db: Path) -> dict[str, list[tuple]]:
    tables = ("calls", "call_results", "segments", "signals", "opportunities", "opportunity_evidence", "outcomes")
    # processed_at and updated_at tell when a call was last looked at; every other column must stay
    return {t: sorted(table(db, f"SELECT * FROM {t}")) for t in tables}


def opportunities_by_catalogue(db: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for catalogue, product, status in table(db, "SELECT catalogue, product_id, status FROM opportunities"):
        found.setdefault(catalogue, {})[product] = status
    return found


@pytest.mark.slow
def test_a_second_catalogue_adds_its_results_and_keeps_the_first_ones_and_their_outcome(tmp_path):
    (tmp_path / "call.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (tmp_path / "call.meta.json").write_text('{"customer_id": "K-7", "account_manager": "Frau Berg"}', encoding="utf-8")
    db = tmp_path / "s.db"
    finanz, technik = str(CATALOGUES / "finanz.yaml"), str(CATALOGUES / "technik.yaml")

    assert cli("process", "call.txt", "--catalogue", finanz, "--db", str(db), cwd=tmp_path).returncode == 0
    (hausrat,) = table(db, "SELECT id FROM opportunities WHERE product_id = 'hausrat'")[0]
    (tmp_path / "crm.csv").write_text(f"opportunity_id,status,amount,closed_date\n{hausrat},won,480,2026-11-20\n")
    assert cli("outcomes", "import", "crm.csv", "--db", str(db), cwd=tmp_path).returncode == 0
    first = opportunities_by_catalogue(db)["finanz"]
    assert first["hausrat"] == "won"

    run = cli("process", "call.txt", "--catalogue", technik, "--db", str(db), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    after = opportunities_by_catalogue(db)
    assert after["finanz"] == first  # nothing of the first catalogue removed or changed
    assert {"maus", "laptoptasche"} & set(after["technik"])  # the laptop's complements
    assert table(db, "SELECT o.product_id, o.catalogue FROM outcomes x JOIN opportunities o ON o.id = x.opportunity_id") == [
        ("hausrat", "finanz")
    ]
    assert sorted(table(db, "SELECT catalogue FROM call_results")) == [("finanz",), ("technik",)]
    report = cli("report", "--db", str(db), "--output", "r.html", cwd=tmp_path)
    assert "revenue 480.00" in " ".join((report.stdout + report.stderr).split())

    # re-running either catalogue changes nothing
    before = snapshot(db)
    for catalogue in (finanz, technik):
        again = cli("process", "call.txt", "--catalogue", catalogue, "--db", str(db), cwd=tmp_path)
        assert again.returncode == 0 and "unchanged: 1" in again.stdout + again.stderr
    assert snapshot(db) == before


def test_migration_keeps_every_row_of_a_release_store(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(RELEASE_STORE, db)
    before = {t: table(db, f"SELECT count(*) FROM {t}")[0][0] for t in
              ("calls", "segments", "signals", "opportunities", "opportunity_evidence", "outcomes", "export_items", "exports")}

    with Store(db) as store:
        assert store.has_result(RELEASE_CALL, "finanz")
        assert not store.has_result(RELEASE_CALL, "technik")

    after = {t: table(db, f"SELECT count(*) FROM {t}")[0][0] for t in before}
    assert after == before
    assert {row[0]: (row[1], row[2]) for row in table(db, "SELECT id, product_id, status FROM opportunities")} == RELEASE_OPPORTUNITIES
    assert set(table(db, "SELECT catalogue FROM signals")) == {("finanz",)}
    assert set(table(db, "SELECT catalogue FROM opportunity_evidence")) == {("finanz",)}
    assert table(db, "SELECT call_id, catalogue FROM call_results") == [(RELEASE_CALL, "finanz")]
    assert table(db, "SELECT opportunity_id, status, amount FROM outcomes") == [("4b74b57396cf9a22", "won", 480.0)]


@pytest.mark.slow
def test_a_migrated_release_store_takes_a_second_catalogue_and_keeps_its_ids_on_a_resave(tmp_path):
    shutil.copy(ROOT / "fixtures" / "calls" / "kunde_hochzeit.txt", tmp_path)
    shutil.copy(ROOT / "fixtures" / "calls" / "kunde_hochzeit.meta.json", tmp_path)
    db = tmp_path / "old.db"
    shutil.copy(RELEASE_STORE, db)
    finanz = str(CATALOGUES / "finanz.yaml")

    run = cli("process", "kunde_hochzeit.txt", "--catalogue", finanz, "--db", str(db), cwd=tmp_path)
    assert run.returncode == 0 and "unchanged: 1" in run.stdout + run.stderr  # done for finanz before the migration
    assert cli("process", "kunde_hochzeit.txt", "--catalogue", str(CATALOGUES / "technik.yaml"), "--db", str(db),
               cwd=tmp_path).returncode == 0
    # forget that finanz is done: saving its result again keeps the release's ids, status and amount
    table(db, "DELETE FROM call_results WHERE catalogue = 'finanz'")
    assert cli("process", "kunde_hochzeit.txt", "--catalogue", finanz, "--db", str(db), cwd=tmp_path).returncode == 0
    rows = table(db, "SELECT id, product_id, status, amount FROM opportunities WHERE catalogue = 'finanz'")
    assert {row[0]: (row[1], row[2]) for row in rows if row[0] in RELEASE_OPPORTUNITIES} == RELEASE_OPPORTUNITIES
    assert ("4b74b57396cf9a22", "hausrat", "won", 480.0) in rows
    assert sorted(table(db, "SELECT catalogue FROM call_results")) == [("finanz",), ("technik",)]


def _result(product: str, catalogue_signal: str) -> CallResult:
    segments = [Segment("customer", "Wir sind umgezogen.", 1.0, 2.0, "Kunde")]
    signal = Signal("life_event", "moving", "Wir sind umgezogen.", "customer", 1.0, 2.0, 0.9, 0)
    declined = Signal("declined", catalogue_signal, "Nein danke.", "customer", 1.0, 2.0, 0.9, 0)
    opportunity = Opportunity(product, product, "life_event", "moving", "Wir sind umgezogen.", "customer", 1.0, 2.0, 0.9, "Pitch")
    return CallResult(Transcript(segments, language="de", duration_s=2.0), [signal, declined], [opportunity])


def test_store_keeps_each_catalogues_signals_and_opportunities(tmp_path):
    sha = hashlib.sha256(b"one call").hexdigest()

    def record(catalogue: str) -> CallRecord:
        return CallRecord(call_id_for(sha), "/calls/a.txt", sha, "processing", customer_id="K-1", catalogue=catalogue)

    with Store(tmp_path / "s.db") as store:
        store.save_call(record("bank"), _result("hausrat", "kredit"))
        store.save_call(record("shop"), _result("hausrat", "laptop"))  # the same product id in another catalogue
        store.save_call(record("bank"), _result("hausrat", "kredit"))  # saved again: only bank's rows replaced
        rows = sorted(store.db.execute("SELECT catalogue, product_id, id FROM opportunities").fetchall())
        assert [(c, p) for c, p, _ in rows] == [("bank", "hausrat"), ("shop", "hausrat")]
        assert rows[0][2] != rows[1][2]
        declined = sorted(store.db.execute("SELECT catalogue, label FROM signals WHERE kind = 'declined'").fetchall())
        assert declined == [("bank", "kredit"), ("shop", "laptop")]
        assert store.catalogues_of(call_id_for(sha)) == ["bank", "shop"]
        assert store.counts()["segments"] == 1


def test_the_report_of_one_catalogue_counts_its_own_opportunities_only(tmp_path):
    from callscout.report.data import Filters, build_report

    sha = hashlib.sha256(b"report call").hexdigest()
    with Store(tmp_path / "s.db") as store:
        for catalogue, product in (("bank", "hausrat"), ("shop", "laptop_bag")):
            record = CallRecord(call_id_for(sha), "/calls/r.txt", sha, "processing", customer_id="K-2", catalogue=catalogue)
            store.save_call(record, _result(product, "nothing"))
        both = build_report(store, Filters())
        bank = build_report(store, Filters(catalogue="bank"))
        shop = build_report(store, Filters(catalogue="shop"))
    assert (both.calls, both.opportunities) == (1, 2)
    assert (bank.calls, bank.opportunities, [o.key for o in bank.by_product]) == (1, 1, ["hausrat"])
    assert (shop.calls, shop.opportunities, [o.key for o in shop.by_product]) == (1, 1, ["laptop_bag"])


def test_a_crm_summary_names_its_own_catalogues_signals_only(tmp_path):
    from callscout.crm.export import with_call_context

    sha = hashlib.sha256(b"crm call").hexdigest()
    with Store(tmp_path / "s.db") as store:
        for catalogue, declined in (("bank", "kredit"), ("shop", "tablet")):
            record = CallRecord(call_id_for(sha), "/calls/c.txt", sha, "processing", customer_id="K-3", catalogue=catalogue)
            store.save_call(record, _result("hausrat", declined))
        rows = [dict(row) for row in store.iter_opportunities(with_call=True)]
        context = {row["catalogue"]: sorted((s["kind"], s["label"]) for s in row["call_signals"]) for row in with_call_context(store, rows)}
    assert context == {"bank": [("declined", "kredit"), ("life_event", "moving")], "shop": [("declined", "tablet"), ("life_event", "moving")]}


def test_a_migrated_store_takes_a_result_without_catalogue_name_beside_its_own(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(RELEASE_STORE, db)
    with Store(db) as store:
        call = store.find_call(RELEASE_CALL)
        record = CallRecord(call["id"], call["source_path"], call["source_sha256"], "processing", customer_id=call["customer_id"])
        store.save_call(record, _result("hausrat", "nothing"))  # catalogue None: its own ids, no clash with the release's
        assert sorted(store.catalogues_of(RELEASE_CALL)) == ["", "finanz"]
    assert {row[0] for row in table(db, "SELECT id FROM opportunities WHERE catalogue = 'finanz'")} == set(RELEASE_OPPORTUNITIES)
