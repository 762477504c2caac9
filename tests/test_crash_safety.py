"""Crash safety: a run killed with SIGKILL at any point and started again stores every file
exactly once, leaves no call ``processing`` and no half-written call, and the file passes
``PRAGMA integrity_check``."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from callscout.store.database import Store
from tests.test_bad_inputs import cli_command, cli_env, fake_pipeline, query, write_calls

ROOT = Path(__file__).resolve().parents[1]

# A process running the pipeline with the fake extractor (no spaCy): fast to start and kill.
FAKE_RUN = textwrap.dedent(
    """
    import sys
    from callscout.store.database import Store
    from tests.test_bad_inputs import fake_pipeline
    with Store(sys.argv[1]) as store:
        fake_pipeline(store).run([sys.argv[2]])
    """
)


def check_complete(db: Path, expected_calls: int) -> None:
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT status, count(*) FROM calls GROUP BY status") == [("done", expected_calls)]
    per_call = query(
        db,
        "SELECT (SELECT count(*) FROM segments s WHERE s.call_id = c.id), "
        "(SELECT count(*) FROM signals g WHERE g.call_id = c.id), "
        "(SELECT count(*) FROM opportunities o WHERE o.call_id = c.id) FROM calls c",
    )
    assert set(per_call) == {(3, 1, 2)}, "every call complete, none doubled"
    assert query(db, "SELECT count(*) FROM (SELECT DISTINCT source_sha256 FROM calls)") == [(expected_calls,)]
    assert query(db, "SELECT count(*) FROM (SELECT call_id, product_id FROM opportunities GROUP BY 1, 2 HAVING count(*) > 1)") == [(0,)]


def done_calls(db: Path) -> int:
    try:
        return query(db, "SELECT count(*) FROM calls WHERE status = 'done'")[0][0]
    except sqlite3.OperationalError:  # no store yet, or its tables not yet created
        return 0


def kill_after(command: list[str], seconds: float, cwd: Path, env=None) -> None:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait()


def kill_when_stored(command: list[str], db: Path, calls: int, cwd: Path, env=None) -> None:
    """SIGKILL the run as soon as ``calls`` calls are done: mid-batch, whatever the start-up time."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if done_calls(db) >= calls:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_one_transaction_per_call_a_failing_write_leaves_no_half_call(tmp_path, monkeypatch):
    write_calls(tmp_path / "inbox", 2)
    with Store(tmp_path / "calls.db") as store:
        pipeline = fake_pipeline(store)
        monkeypatch.setattr(store, "_insert_opportunities", lambda *a: (_ for _ in ()).throw(RuntimeError("disk full")))
        summary = pipeline.run([tmp_path / "inbox"])
        assert [o.status for o in summary.outcomes] == ["failed", "failed"]
        assert store.counts() | {} == {**store.counts(), "segments": 0, "signals": 0, "opportunities": 0}
        monkeypatch.undo()
        fake_pipeline(store).run([tmp_path / "inbox"])
    check_complete(tmp_path / "calls.db", 2)


def test_a_call_left_processing_is_processed_again(tmp_path):
    path = write_calls(tmp_path / "inbox", 1)[0]
    with Store(tmp_path / "calls.db") as store:
        pipeline = fake_pipeline(store)
        record = pipeline._new_record(pipeline_input(path), None)
        store.mark_processing(record)  # what a run killed mid-call leaves behind
        assert store.find_call(record.id)["status"] == "processing"
        assert [o.status for o in pipeline.run([path]).outcomes] == ["done"]
    check_complete(tmp_path / "calls.db", 1)


def pipeline_input(path: Path):
    from callscout.inputs.discovery import discover

    return discover([path])[0][0]


def test_killed_fake_runs_then_a_full_run_store_each_file_once(tmp_path):
    write_calls(tmp_path / "inbox", 200)
    db = tmp_path / "calls.db"
    command = [sys.executable, "-c", FAKE_RUN, str(db), str(tmp_path / "inbox")]
    kill_after(command, 0.3, cwd=ROOT)
    for stored in (5, 60, 130):
        kill_when_stored(command, db, stored, ROOT)
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert done_calls(db) < 200, "the kills landed mid-batch"
    subprocess.run(command, cwd=ROOT, check=True)
    check_complete(db, 200)


@pytest.mark.slow
def test_killed_cli_runs_then_a_full_run_store_each_file_once(tmp_path):
    write_calls(tmp_path / "inbox", 30)
    db = tmp_path / "calls.db"
    command, env = cli_command(tmp_path / "inbox", db), cli_env(tmp_path)
    kill_after(command, 0.5, tmp_path, env)
    for stored in (2, 9, 17):
        kill_when_stored(command, db, stored, tmp_path, env)
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert done_calls(db) < 30, "the kills landed mid-batch"
    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    check_complete(db, 30)
