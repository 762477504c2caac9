"""Two processes writing one store at once both succeed (WAL, immediate write transactions,
busy timeout); a reader during the writes only ever sees complete calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from callscout.crm.export import export_opportunities
from callscout.store.database import Store
from tests.test_bad_inputs import cli_command, cli_env, query, write_calls
from tests.test_crash_safety import FAKE_RUN, check_complete

ROOT = Path(__file__).resolve().parents[1]


def start(command: list[str], cwd: Path, env=None) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_consistent_snapshot(db: Path, output: Path) -> int:
    """Export, then check each exported opportunity's call is done and complete."""
    with Store(db) as store:
        count = export_opportunities(store, "jsonl", output)
        rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            call = store.call_detail(row["call_id"])
            assert call["call"]["status"] == "done" and len(call["segments"]) == 3
    orphans = query(
        db,
        "SELECT count(*) FROM opportunities o LEFT JOIN calls c ON c.id = o.call_id "
        "WHERE c.id IS NULL OR c.status != 'done' OR (SELECT count(*) FROM segments s WHERE s.call_id = c.id) != 3",
    )
    assert orphans == [(0,)]
    return count


def read_while_running(processes: list[subprocess.Popen], db: Path, output: Path) -> list[int]:
    seen = []
    while any(process.poll() is None for process in processes):
        if db.exists() and "calls" in Store(db).db.table_names():
            seen.append(check_consistent_snapshot(db, output))
    return seen


def test_two_writers_and_a_reader_on_one_store(tmp_path):
    write_calls(tmp_path / "a", 120, prefix="a")
    write_calls(tmp_path / "b", 120, prefix="b")
    write_calls(tmp_path / "both", 40, prefix="both")  # both processes write these same calls
    db = tmp_path / "calls.db"
    writers = [
        start([sys.executable, "-c", FAKE_RUN, str(db), str(tmp_path / folder)], ROOT) for folder in ("a", "b")
    ] + [start([sys.executable, "-c", FAKE_RUN, str(db), str(tmp_path / "both")], ROOT) for _ in range(2)]
    seen = read_while_running(writers, db, tmp_path / "export.jsonl")
    for writer in writers:
        assert writer.wait() == 0, writer.stderr.read()
        assert "locked" not in writer.stderr.read()
    check_complete(db, 280)
    assert seen == sorted(seen), "the reader never saw opportunities disappear"


def test_two_stores_opening_a_new_file_at_once_both_migrate_cleanly(tmp_path):
    db = tmp_path / "new.db"
    opener = "import sys; from callscout.store.database import Store; Store(sys.argv[1]).close()"
    openers = [start([sys.executable, "-c", opener, str(db)], ROOT) for _ in range(4)]
    for process in openers:
        assert process.wait() == 0, process.stderr.read()
    names = query(db, "SELECT name FROM _sqlite_migrations ORDER BY id")
    assert len(names) == len(set(names)) and names[0] == ("001_initial",)


@pytest.mark.slow
def test_two_cli_runs_at_once_both_succeed(tmp_path):
    write_calls(tmp_path / "a", 15, prefix="a")
    write_calls(tmp_path / "b", 15, prefix="b")
    db = tmp_path / "calls.db"
    env = cli_env(tmp_path)
    runs = [start(cli_command(tmp_path / folder, db), tmp_path, env) for folder in ("a", "b")]
    read_while_running(runs, db, tmp_path / "export.jsonl")
    for run in runs:
        assert run.wait() == 0, run.stderr.read()
    check_complete(db, 30)
