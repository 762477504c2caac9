import hashlib
import sqlite3
from itertools import count

import pytest
from sqlite_utils.db import Table

from callscout.records import CallRecord, CallResult, Opportunity, Segment, Signal, Transcript
from callscout.store.database import CallNotFound, Store
from callscout.store.rows import call_id_for, opportunity_id_for, signal_id_for

VOLATILE = {"processed_at", "updated_at"}


def ticking_clock():
    ticks = count(1)
    return lambda: f"2024-05-01T10:00:{next(ticks):02d}.000000+00:00"


def make_record(name="call-1.wav", **fields):
    sha = hashlib.sha256(name.encode()).hexdigest()
    defaults = dict(customer_id="K-100", account_manager="Frau Berg", catalogue="retail-bank")
    return CallRecord(
        id=call_id_for(sha), source_path=f"/calls/{name}", source_sha256=sha, status="processing",
        **{**defaults, **fields},
    )


def make_result(products=("home_insurance", "savings_plan"), signals=None):
    segments = [
        Segment("agent", "Guten Tag, was kann ich für Sie tun?", 0.0, 2.5, "Berater"),
        Segment("customer", "Wir ziehen nächsten Monat nach Leipzig um.", 2.5, 6.0, "Kunde"),
    ]
    if signals is None:
        signals = [Signal("life_event", "relocation", "ziehen nach Leipzig um", "customer", 2.5, 6.0, 0.9, 1)]
    opportunities = [
        Opportunity(product, product.replace("_", " ").title(), "life_event", "relocation",
                    "ziehen nach Leipzig um", "customer", 2.5, 6.0, 0.8 - i / 10, f"Pitch {product}")
        for i, product in enumerate(products)
    ]
    transcript = Transcript(segments, language="de", duration_s=6.0, language_probability=0.98)
    return CallResult(transcript, signals, opportunities)


@pytest.fixture
def store():
    with Store(":memory:", clock=ticking_clock()) as store:
        yield store


def snapshot(store):
    tables = ("calls", "segments", "signals", "opportunities")
    return {
        table: [
            {k: v for k, v in row.items() if k not in VOLATILE}
            for row in store.db.query(f"SELECT * FROM {table} ORDER BY id")
        ]
        for table in tables
    }


def test_file_store_sets_pragmas(tmp_path):
    with Store(tmp_path / "new" / "calls.db") as store:
        pragma = lambda name: store.db.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 30_000
        assert pragma("foreign_keys") == 1


def test_save_call_writes_every_table(store):
    record = make_record()
    call_id = store.save_call(record, make_result())

    assert call_id == record.id == record.source_sha256[:16]
    assert store.counts() == {
        "calls": 1, "segments": 2, "signals": 1, "opportunities": 2,
        "calls_done": 1, "calls_failed": 0, "calls_processing": 0,
    }
    detail = store.call_detail(call_id)
    call = detail["call"]
    assert call["status"] == "done" and call["customer_id"] == "K-100"
    assert call["language"] == "de" and call["duration_s"] == 6.0 and call["sensitive"] == 0
    assert [s["id"] for s in detail["segments"]] == [f"{call_id}:0", f"{call_id}:1"]
    assert detail["segments"][1]["speaker"] == "customer"
    assert detail["segments"][1]["speaker_label"] == "Kunde"
    assert detail["signals"][0]["segment_idx"] == 1
    top = detail["opportunities"][0]
    assert top["id"] == opportunity_id_for(call_id, "home_insurance", "retail-bank")
    assert (top["customer_id"], top["catalogue"], top["status"]) == ("K-100", "retail-bank", "open")
    assert (top["start_s"], top["end_s"], top["sensitive_call"]) == (2.5, 6.0, 0)


def test_ids_are_stable_hashes():
    signal = Signal("need", "savings_plan", "sparen", "customer", 1.0, 2.0, 0.7, 3)
    assert opportunity_id_for("abc", "x", "finanz") == hashlib.sha256(b"abc:finanz:x").hexdigest()[:16]
    # no catalogue name: an id of its own, never one of a store made before 005 ("abc:x")
    assert opportunity_id_for("abc", "x", None) == hashlib.sha256(b"abc::x").hexdigest()[:16]
    assert signal_id_for("abc", signal, "finanz") == signal_id_for("abc", Signal(**vars(signal)), "finanz")
    assert signal_id_for("abc", signal, "finanz") != signal_id_for("abd", signal, "finanz")
    assert signal_id_for("abc", signal, "finanz") != signal_id_for("abc", signal, None)
    assert len(signal_id_for("abc", signal, None)) == 16


def test_resave_changes_only_timestamps(store):
    record = make_record()
    store.save_call(record, make_result())
    before = snapshot(store)
    first_updated = store.call_detail(record.id)["opportunities"][0]["updated_at"]

    store.save_call(record, make_result())

    assert snapshot(store) == before
    assert store.call_detail(record.id)["opportunities"][0]["updated_at"] > first_updated


def test_resave_keeps_created_at_and_status_and_drops_vanished(store):
    record = make_record()
    store.save_call(record, make_result())
    opportunity_id = opportunity_id_for(record.id, "home_insurance", "retail-bank")
    store.db.execute("UPDATE opportunities SET status = 'contacted' WHERE id = ?", [opportunity_id])
    created_at = store.db["opportunities"].get(opportunity_id)["created_at"]

    store.save_call(record, make_result(products=("home_insurance", "credit_card")))

    rows = {row["product_id"]: row for row in store.iter_opportunities()}
    assert set(rows) == {"home_insurance", "credit_card"}
    assert rows["home_insurance"]["status"] == "contacted"
    assert rows["home_insurance"]["created_at"] == created_at
    assert rows["credit_card"]["status"] == "open"
    assert rows["credit_card"]["created_at"] > created_at


def test_duplicate_products_and_signals_collapse(store):
    signal = Signal("need", "savings_plan", "sparen", "customer", 1.0, 2.0, 0.7, 1)
    result = make_result(products=("savings_plan", "savings_plan"), signals=[signal, signal])
    store.save_call(make_record(), result)
    opportunities = list(store.iter_opportunities())
    assert len(opportunities) == 1 and opportunities[0]["score"] == pytest.approx(0.8)
    assert store.counts()["signals"] == 1


def test_failed_insert_leaves_previous_state(store, monkeypatch):
    record = make_record()
    store.save_call(record, make_result())
    before = snapshot(store)
    original_insert_all = Table.insert_all

    def failing_insert_all(self, records, *args, **kwargs):
        if self.name == "opportunities":
            raise RuntimeError("disk on fire")
        return original_insert_all(self, records, *args, **kwargs)

    monkeypatch.setattr(Table, "insert_all", failing_insert_all)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save_call(record, make_result(products=("credit_card",), signals=[]))

    assert snapshot(store) == before
    assert not store.db.conn.in_transaction


def test_failed_first_save_leaves_nothing(store, monkeypatch):
    def failing_insert_all(self, records, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Table, "insert_all", failing_insert_all)
    with pytest.raises(RuntimeError):
        store.save_call(make_record(), make_result())
    assert store.counts()["calls"] == 0


def test_processing_then_done(store):
    record = make_record()
    store.mark_processing(record)
    assert store.call_status(record.source_sha256) == "processing"
    store.save_call(record, make_result())
    assert store.call_status(record.source_sha256) == "done"


def test_failure_is_recorded_and_cleared_by_retry(store):
    record = make_record(error="ffmpeg: invalid data")
    store.save_failure(record)
    row = store.find_call(record.id)
    assert (row["status"], row["error"]) == ("failed", "ffmpeg: invalid data")

    store.mark_processing(record)
    assert store.find_call(record.id)["error"] is None
    store.save_call(record, make_result())
    assert store.find_call(record.id)["status"] == "done"


def test_failure_and_processing_never_downgrade_a_done_call(store, caplog):
    record = make_record()
    store.save_call(record, make_result())
    before = snapshot(store)

    store.mark_processing(record)
    store.save_failure(make_record(error="out of memory"))

    assert snapshot(store) == before
    assert "out of memory" in caplog.text


def test_find_call_by_id_sha_or_path(store):
    record = make_record()
    store.save_call(record, make_result())
    for key in (record.id, record.source_sha256, record.source_path):
        assert store.find_call(key)["id"] == record.id
    assert store.find_call("nope") is None
    assert store.call_status("0" * 64) is None


def test_call_detail_unknown_raises(store):
    with pytest.raises(CallNotFound):
        store.call_detail("missing")


def test_record_id_must_derive_from_sha(store):
    record = make_record()
    record.id = "not-the-sha"
    with pytest.raises(ValueError, match="does not match"):
        store.save_call(record, make_result())


def test_sensitive_signal_marks_call_and_opportunities(store):
    signals = [Signal("sensitive", "bereavement", "mein Mann ist gestorben", "customer", 1.0, 2.0, 0.9, 1)]
    store.save_call(make_record(), make_result(signals=signals))
    assert store.find_call(make_record().id)["sensitive"] == 1
    assert {row["sensitive_call"] for row in store.iter_opportunities()} == {1}


def test_iter_opportunities_order_and_call_fields(store):
    store.save_call(make_record("b.wav"), make_result(products=("p2",)))
    store.save_call(make_record("a.wav"), make_result(products=("p1", "p0")))
    rows = list(store.iter_opportunities(with_call=True))
    assert [row["product_id"] for row in rows][0] == "p2"
    assert [(row["created_at"], row["id"]) for row in rows] == sorted((r["created_at"], r["id"]) for r in rows)
    assert rows[0]["source_path"] == "/calls/b.wav" and rows[0]["language"] == "de"
    assert "source_path" not in next(store.iter_opportunities())


def test_iter_opportunities_updated_since(store):
    store.save_call(make_record("a.wav"), make_result(products=("p1",)))
    watermark = next(store.iter_opportunities())["updated_at"]
    store.save_call(make_record("b.wav"), make_result(products=("p2",)))
    assert [row["product_id"] for row in store.iter_opportunities(updated_since=watermark)] == ["p2"]


def test_file_store_survives_reopen_and_is_consistent(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as store:
        store.save_call(make_record(), make_result())
        store.save_call(make_record(), make_result())
    with Store(path) as store:
        assert store.counts()["opportunities"] == 2
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(
            "INSERT INTO segments (id, call_id, idx, speaker, text) VALUES (?, ?, ?, ?, ?)",
            ["x:0", "no-such-call", 0, "agent", "hallo"],
        )


def test_second_connection_sees_committed_call(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as writer, Store(path) as reader:
        writer.save_call(make_record(), make_result())
        assert reader.call_status(make_record().source_sha256) == "done"
