"""Data minimisation: ``purge`` deletes the transcripts of old calls and keeps what the CRM needs.

Library tests drive the ``Pipeline`` with the keyword fake extractor (tests/test_bad_inputs);
one test runs the real CLI (``process``, ``purge``, ``process`` again) in subprocesses with
the hashing encoder.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callscout.store.database import Store
from callscout.store.purge import purge_transcripts
from tests.test_bad_inputs import CATALOGUE, cli_env, fake_pipeline, query

ROOT = Path(__file__).resolve().parents[1]
HOCHZEIT = ROOT / "fixtures" / "calls" / "kunde_hochzeit.txt"

# Each call has one phrase that only its transcript holds (not a signal's or an opportunity's quote).
OLD_CALL = "Berater: Guten Tag, hier ist die Filiale Zwickau.\nKunde: Wir ziehen nächsten Monat nach Leipzig um.\n"
NEW_CALL = "Berater: Guten Tag, hier ist die Filiale Görlitz.\nKunde: Wir ziehen bald nach Dresden um.\n"
OLD_ONLY = "Filiale Zwickau"
TABLES = ("calls", "segments", "signals", "opportunities", "opportunity_evidence")


def rows(db, table: str, call_id: str) -> list[dict]:
    column = "id" if table == "calls" else "call_id"
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute(f"SELECT * FROM {table} WHERE {column} = ? ORDER BY id", [call_id])]
    finally:
        connection.close()


def snapshot(db, call_id: str) -> dict[str, list[dict]]:
    return {table: rows(db, table, call_id) for table in TABLES}


def whole_store(db) -> dict[str, list[tuple]]:
    return {table: query(db, f"SELECT * FROM {table} ORDER BY id") for table in TABLES}


def sidecar(path: Path, **meta: str) -> None:
    path.with_name(path.stem + ".meta.json").write_text(json.dumps(meta), encoding="utf-8")


def file_bytes(db: Path) -> bytes:
    """The store file and whatever its WAL holds."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


@pytest.fixture
def calls(tmp_path):
    """A store with an old call (recorded in 2020, per its sidecar) and a recent one (no sidecar:
    its age runs from when it was processed, i.e. now)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    old, new = inbox / "alt.txt", inbox / "neu.txt"
    old.write_text(OLD_CALL, encoding="utf-8")
    sidecar(old, customer_id="K-1", recorded_at="2020-01-15T09:30:00")
    new.write_text(NEW_CALL, encoding="utf-8")
    db = tmp_path / "calls.db"
    with Store(db) as store:
        summary = fake_pipeline(store).run([inbox])
    assert [o.status for o in summary.outcomes] == ["done", "done"]
    ids = {o.path.name: o.call_id for o in summary.outcomes}
    return db, inbox, ids["alt.txt"], ids["neu.txt"]


def purge(db: Path, days: int, now: datetime | None = None):
    with Store(db) as store:
        return purge_transcripts(store, days, now=now)


def test_old_call_loses_its_transcript_and_quotes_but_keeps_opportunities(calls):
    db, _, old, new = calls
    before_old, before_new = snapshot(db, old), snapshot(db, new)
    assert len(before_old["segments"]) == 2 and len(before_old["signals"]) == 1 and before_old["opportunities"]

    result = purge(db, 365)

    assert (result.calls, result.segments, result.signals) == (1, 2, 1)
    after = snapshot(db, old)
    assert after["segments"] == []
    assert [s["evidence"] for s in after["signals"]] == [None]
    keep = ("id", "kind", "label", "speaker", "start_s", "end_s", "confidence", "segment_idx")
    assert [{k: s[k] for k in keep} for s in after["signals"]] == [{k: s[k] for k in keep} for s in before_old["signals"]]
    assert after["opportunities"] == before_old["opportunities"]  # evidence quote included
    assert all(o["evidence"] for o in after["opportunities"])
    # Which call triggered which opportunity stays; the quotes of the call go.
    assert len(before_old["opportunity_evidence"]) == len(before_old["opportunities"]) == result.evidence
    assert all(e["evidence"] for e in before_old["opportunity_evidence"])
    assert [e["evidence"] for e in after["opportunity_evidence"]] == [None] * result.evidence
    assert [{**e, "evidence": None} for e in before_old["opportunity_evidence"]] == after["opportunity_evidence"]
    [call] = after["calls"]
    assert call["purged_at"] is not None and call["status"] == "done"
    assert {k: v for k, v in call.items() if k != "purged_at"} == {
        k: v for k, v in before_old["calls"][0].items() if k != "purged_at"
    }
    assert snapshot(db, new) == before_new  # the recent call is untouched
    assert before_new["calls"][0]["purged_at"] is None


def test_purged_at_is_the_time_of_the_purge(calls):
    db, _, old, _ = calls
    now = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    result = purge(db, 3650, now=now)
    assert result.calls == 1 and result.cutoff == "2021-05-08T07:08:09+00:00"
    assert query(db, "SELECT purged_at FROM calls WHERE id = ?", [old]) == [("2031-05-06T07:08:09+00:00",)]


def test_a_second_purge_does_nothing(calls):
    db, _, old, _ = calls
    purge(db, 365)
    before = whole_store(db)

    again = purge(db, 365)

    assert (again.calls, again.segments, again.signals) == (0, 0, 0)
    assert whole_store(db) == before  # purged_at not moved either


def test_processing_the_same_file_again_leaves_the_purged_call_as_it_is(calls):
    db, inbox, old, _ = calls
    purge(db, 365)
    before = whole_store(db)

    with Store(db) as store:
        summary = fake_pipeline(store).run([inbox])

    assert sorted((o.path.name, o.status) for o in summary.outcomes) == [("alt.txt", "unchanged"), ("neu.txt", "unchanged")]
    assert whole_store(db) == before
    assert rows(db, "segments", old) == []


def test_every_call_is_old_for_a_now_far_in_the_future(calls):
    db, _, old, new = calls
    result = purge(db, 30, now=datetime(2200, 1, 1, tzinfo=timezone.utc))
    assert result.calls == 2
    assert query(db, "SELECT count(*) FROM segments") == [(0,)]
    assert query(db, "SELECT count(*) FROM signals WHERE evidence IS NOT NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM calls WHERE purged_at IS NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM opportunities WHERE evidence IS NULL") == [(0,)]


@pytest.mark.parametrize(
    ("recorded_at", "days", "purged"),
    [
        ("2024-01-10T12:00:00", 10, False),  # exactly at the cutoff: not older
        ("2024-01-10T11:59:59", 10, True),
        ("2024-01-10T12:00:00", 9, True),
        ("2024-01-10T13:30:00+02:00", 10, True),  # 11:30 UTC
        ("2024-01-10T11:00:00-02:00", 10, False),  # 13:00 UTC
        ("2024-01-10", 10, True),  # a date alone is midnight UTC
    ],
)
def test_age_runs_from_recorded_at_naive_times_are_utc(tmp_path, recorded_at, days, purged):
    path = tmp_path / "a.txt"
    path.write_text(OLD_CALL, encoding="utf-8")
    sidecar(path, recorded_at=recorded_at)
    db = tmp_path / "calls.db"
    with Store(db) as store:
        fake_pipeline(store).run([path])
    result = purge(db, days, now=datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc))
    assert result.calls == int(purged)
    assert query(db, "SELECT count(*) FROM segments")[0][0] == (0 if purged else 2)


def test_without_recorded_at_age_runs_from_processing(calls):
    db, _, _, new = calls
    processed = datetime.fromisoformat(query(db, "SELECT processed_at FROM calls WHERE id = ?", [new])[0][0])
    assert purge(db, 1, now=processed + timedelta(hours=23)).calls == 1  # only the old one
    assert rows(db, "segments", new)
    assert purge(db, 1, now=processed + timedelta(days=1, seconds=1)).calls == 1
    assert rows(db, "segments", new) == []


def test_calls_in_flight_are_left_alone(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(OLD_CALL, encoding="utf-8")
    sidecar(path, recorded_at="2001-01-01T00:00:00")
    db = tmp_path / "calls.db"
    with Store(db) as store:
        pipeline = fake_pipeline(store)
        from callscout.inputs.discovery import discover

        record = pipeline._new_record(discover([path])[0][0], None)
        store.mark_processing(record)  # another run is transcribing it now
    assert purge(db, 0, now=datetime(2200, 1, 1, tzinfo=timezone.utc)).calls == 0
    assert query(db, "SELECT status, purged_at FROM calls") == [("processing", None)]


def test_negative_days_are_refused(calls):
    db, *_ = calls
    with pytest.raises(ValueError, match="older_than_days must be 0 or more, got -1"):
        purge(db, -1)
    assert query(db, "SELECT count(*) FROM calls WHERE purged_at IS NOT NULL") == [(0,)]


def test_the_deleted_text_does_not_linger_in_the_file(calls):
    db, *_ = calls
    assert OLD_ONLY.encode() in file_bytes(db)  # the check below can see it
    purge(db, 365)
    assert OLD_ONLY.encode() not in file_bytes(db)
    assert b"Filiale G\xc3\xb6rlitz" in file_bytes(db)  # the recent call's transcript stays
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


# the CLI in subprocesses


def callscout(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "callscout", *map(str, args)],
        capture_output=True, text=True, cwd=tmp_path, env=cli_env(tmp_path), timeout=300,
    )


def test_cli_purge_after_a_real_process_run(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    old = inbox / "kunde_hochzeit.txt"
    shutil.copy(HOCHZEIT, old)
    sidecar(old, customer_id="K-1001", recorded_at="2020-03-01T10:15:00")
    (inbox / "neu.txt").write_text(NEW_CALL, encoding="utf-8")
    db = tmp_path / "calls.db"

    processed = callscout(tmp_path, "process", inbox, "--catalogue", CATALOGUE, "--db", db)
    assert processed.returncode == 0, processed.stderr
    ids = dict(query(db, "SELECT source_path, id FROM calls"))
    old_id, new_id = ids[str(old)], ids[str(inbox / "neu.txt")]
    quotes = query(db, "SELECT count(*) FROM signals WHERE call_id = ? AND evidence IS NOT NULL", [old_id])[0][0]
    segments = len(rows(db, "segments", old_id))
    opportunities = rows(db, "opportunities", old_id)
    recent = snapshot(db, new_id)
    assert segments == 10 and quotes > 0 and opportunities

    purged = callscout(tmp_path, "purge", "--older-than", 30, "--db", db)

    assert purged.returncode == 0, purged.stderr
    line = purged.stderr.strip()
    assert re.fullmatch(
        rf"purged 1 call: {segments} segments deleted, {quotes} signal quotes blanked "
        r"\(older than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\)",
        line,
    ), line
    assert rows(db, "segments", old_id) == [] and rows(db, "opportunities", old_id) == opportunities
    assert snapshot(db, new_id) == recent
    assert b"Stadtbank" not in file_bytes(db)  # the agent's greeting, only in the transcript

    before = whole_store(db)
    again = callscout(tmp_path, "process", inbox, "--catalogue", CATALOGUE, "--db", db)
    assert again.returncode == 0 and "unchanged: 2" in again.stderr, again.stderr
    assert whole_store(db) == before

    nothing = callscout(tmp_path, "purge", "--older-than", 30, "--db", db)
    assert nothing.returncode == 0 and nothing.stderr.startswith("purged 0 calls: 0 segments deleted, 0 signal")


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("-1", "error: --older-than must be 0 or more days, got -1"),
        ("1000000", "error: --older-than 1000000 days is out of range"),
    ],
)
def test_cli_purge_bad_days_is_one_line_exit_2(tmp_path, days, message):
    db = tmp_path / "calls.db"
    Store(db).close()
    result = callscout(tmp_path, "purge", "--older-than", days, "--db", db)
    assert (result.returncode, result.stderr.strip()) == (2, message)


def test_cli_purge_without_a_store_creates_none(tmp_path):
    result = callscout(tmp_path, "purge", "--older-than", "7", "--db", tmp_path / "nope.db")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {tmp_path / 'nope.db'}: no such store"
    assert not (tmp_path / "nope.db").exists()
