"""The hot folder: settle, file away, duplicates, locks between watchers, SIGTERM, --once.

Fast tests (in-process and subprocess) use ``KeywordExtractor`` instead of spaCy, which alone
takes ~10 s to import; one slow test runs the real extraction with the hashing encoder.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from callscout.config import Config
from callscout.match.catalogue import load_catalogue
from callscout.process import Pipeline
from callscout.records import Signal
from callscout.staging import file_sha256
from callscout.store.database import Store
from callscout.watch.folder import (
    SettleTracker,
    WatchOptions,
    claim,
    free_destination,
    signature,
    watch_folder,
)

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "fixtures" / "catalogues" / "finanz.yaml"
HOCHZEIT = ROOT / "fixtures" / "calls" / "kunde_hochzeit.txt"
KEYWORDS = {"geheiratet": "marriage", "umgezogen": "moving", "gezogen": "moving", "Baby": "new_child"}


class KeywordExtractor:
    """A fake extraction stage: a life event for each keyword a customer says."""

    def extract(self, transcript, catalogue):
        found = []
        for idx, segment in enumerate(transcript.segments):
            for word, label in KEYWORDS.items():
                if segment.speaker == "customer" and word in segment.text:
                    found.append(Signal("life_event", label, segment.text, "customer", segment.start, segment.end, 0.9, idx))
        return found


def run_cli_with_fake() -> None:
    """Entry point for subprocesses: the real CLI with ``KeywordExtractor`` injected."""
    Pipeline.extractor = property(lambda self: KeywordExtractor())
    from callscout.cli.commands import app

    app(prog_name="callscout")


def call_text(n: int, event: str = "Wir sind letzte Woche umgezogen.") -> str:
    return f"[00:00:00] Berater: Guten Tag, Anruf Nummer {n}.\n[00:00:04] Kunde: {event}\n"


def drop(path: Path, text: str) -> Path:
    """Write like an uploader that renames when done (atomic for the watcher)."""
    temporary = path.with_name("." + path.name + ".part")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def files_below(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def query(db: Path, sql: str, *args) -> list[tuple]:
    return sqlite3.connect(db).execute(sql, args).fetchall()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition", watchers=()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        ended = [w for w in watchers if w.poll() is not None]
        if ended:
            raise AssertionError(f"watcher exited {ended[0].returncode}: {output(ended[0])}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def inbox(tmp_path) -> Path:
    (tmp_path / "inbox").mkdir()
    return tmp_path / "inbox"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "calls.db") as store:
        yield store


@pytest.fixture
def pipeline(store) -> Pipeline:  # one per test, as ``watch`` makes one per run
    return Pipeline(Config(), load_catalogue(CATALOGUE), store, extractor=KeywordExtractor())


def once(inbox, pipeline, **options):
    return watch_folder(inbox, pipeline, WatchOptions(settle=0, once=True, **options), stop=threading.Event())


# fast, in-process


def test_once_files_away_done_failed_and_duplicates(inbox, pipeline, store):
    drop(inbox / "kunde_hochzeit.txt", HOCHZEIT.read_text(encoding="utf-8"))
    (inbox / "kunde_hochzeit.meta.json").write_text('{"customer_id": "K-1001"}', encoding="utf-8")
    drop(inbox / "kopie.txt", HOCHZEIT.read_text(encoding="utf-8"))
    drop(inbox / "bad.vtt", "no header\n")

    summary = once(inbox, pipeline)

    assert sorted(o.status for o in summary.outcomes) == ["done", "failed", "unchanged"]
    assert files_below(inbox) == [
        "failed/bad.vtt",
        "failed/bad.vtt.error.txt",
        "processed/kopie.txt",
        "processed/kunde_hochzeit.meta.json",
        "processed/kunde_hochzeit.txt",
    ]
    assert "missing 'WEBVTT' header" in (inbox / "failed" / "bad.vtt.error.txt").read_text(encoding="utf-8")
    statuses = dict(store.db.execute("SELECT status, count(*) FROM calls GROUP BY status").fetchall())
    assert statuses == {"done": 1, "failed": 1}


def test_taken_names_get_a_number(inbox, pipeline):
    (inbox / "processed").mkdir()
    (inbox / "processed" / "a.txt").write_text("old", encoding="utf-8")
    drop(inbox / "a.txt", call_text(1))
    (inbox / "a.meta.json").write_text('{"customer_id": "K-1"}', encoding="utf-8")

    once(inbox, pipeline)

    assert files_below(inbox / "processed") == ["a-2.meta.json", "a-2.txt", "a.txt"]


def test_free_destination_skips_names_whose_sidecar_or_note_exists(tmp_path):
    (tmp_path / "x.meta.json").write_text("{}", encoding="utf-8")
    (tmp_path / "x-2.wav.error.txt").write_text("", encoding="utf-8")
    assert free_destination(tmp_path, "x.wav") == tmp_path / "x-3.wav"


def test_subfolders_are_kept_and_unsupported_files_left_alone(inbox, pipeline):
    (inbox / "team-a").mkdir()
    drop(inbox / "team-a" / "c.txt", call_text(2))
    (inbox / "notes.docx").write_bytes(b"PK")

    once(inbox, pipeline)

    assert files_below(inbox) == ["notes.docx", "processed/team-a/c.txt"]


def test_bad_sidecar_sends_the_call_to_failed(inbox, pipeline):
    drop(inbox / "d.txt", call_text(3))
    (inbox / "d.meta.json").write_text("{broken", encoding="utf-8")

    summary = once(inbox, pipeline)

    assert summary.all_failed
    assert files_below(inbox / "failed") == ["d.meta.json", "d.txt", "d.txt.error.txt"]
    assert "d.meta.json" in (inbox / "failed" / "d.txt.error.txt").read_text(encoding="utf-8")


def test_customer_from_name_applies(inbox, pipeline, store):
    drop(inbox / "K-4711_anruf.txt", call_text(4))
    once(inbox, pipeline, customer_pattern=r"^(K-\d+)_")
    assert store.db.execute("SELECT customer_id FROM calls").fetchall() == [("K-4711",)]


def test_settle_tracker_waits_for_a_quiet_file(tmp_path):
    now = [100.0]
    tracker = SettleTracker(settle=2.0, clock=lambda: now[0])
    path = tmp_path / "f.txt"
    path.write_text("half", encoding="utf-8")
    assert tracker.update([path]) == []
    now[0] += 1.5
    path.write_text("half and more", encoding="utf-8")
    assert tracker.update([path]) == []  # changed: the clock starts again
    assert tracker.next_due() == pytest.approx(2.0)
    now[0] += 2.0
    assert tracker.update([path]) == [(path, signature(path))]


def test_settle_tracker_notices_a_sidecar_being_written(tmp_path):
    now = [0.0]
    tracker = SettleTracker(settle=1.0, clock=lambda: now[0])
    path = tmp_path / "f.txt"
    path.write_text("call", encoding="utf-8")
    tracker.update([path])
    (tmp_path / "f.meta.json").write_text("{", encoding="utf-8")
    now[0] += 1.0
    assert tracker.update([path]) == []


def test_claim_refuses_a_file_another_watcher_holds(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("call", encoding="utf-8")
    with open(path, "rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with claim(path, signature(path)) as claimed:
            assert not claimed
    with claim(path, signature(path)) as claimed:
        assert claimed


def test_claim_refuses_a_file_replaced_or_gone_since_it_settled(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("call", encoding="utf-8")
    settled = signature(path)
    path.unlink()
    path.write_text("another call", encoding="utf-8")
    for _ in range(2):
        with claim(path, settled) as claimed:
            assert not claimed
        path.unlink(missing_ok=True)


def test_stop_during_a_file_finishes_it(inbox, store):
    stop = threading.Event()

    class StoppingExtractor(KeywordExtractor):
        def extract(self, transcript, catalogue):
            stop.set()  # as SIGTERM would, in the middle of the file
            return super().extract(transcript, catalogue)

    pipeline = Pipeline(Config(), load_catalogue(CATALOGUE), store, extractor=StoppingExtractor())
    drop(inbox / "a.txt", call_text(1))
    drop(inbox / "b.txt", call_text(2))

    summary = watch_folder(inbox, pipeline, WatchOptions(settle=0), stop=stop)

    assert [o.status for o in summary.outcomes] == ["done"]
    assert files_below(inbox) == ["b.txt", "processed/a.txt"]
    assert store.counts()["calls_done"] == 1


@pytest.mark.parametrize("events", [True, False], ids=["watchdog", "polling"])
def test_files_arriving_later_are_taken(inbox, pipeline, monkeypatch, events):
    if not events:
        monkeypatch.setattr("callscout.watch.folder._start_observer", lambda inbox, wake: None)
    stop = threading.Event()

    def drop_later() -> None:  # the watcher (and its store) stays in the main thread
        try:
            time.sleep(0.3)
            drop(inbox / "late.txt", call_text(5))
            wait_for(lambda: (inbox / "processed" / "late.txt").exists(), 10, "late.txt in processed/")
        finally:
            stop.set()

    dropper = threading.Thread(target=drop_later)
    dropper.start()
    summary = watch_folder(inbox, pipeline, WatchOptions(settle=0.3, poll_interval=0.1), stop=stop)
    dropper.join()
    assert [(o.path.name, o.status) for o in summary.outcomes] == [("late.txt", "done")]


# the CLI in subprocesses


def start_watch(inbox: Path, db: Path, *extra: str, fake: bool = True) -> subprocess.Popen:
    """The CLI in a subprocess; its stderr goes to a file (``process.log``), never blocking it."""
    code = "from tests.test_watch import run_cli_with_fake; run_cli_with_fake()" if fake else (
        "from callscout.cli.commands import app; app(prog_name='callscout')"
    )
    config = db.parent / "empty-config.toml"  # no user or checkout config leaks in
    config.write_text("", encoding="utf-8")
    env = {**os.environ, "CALLSCOUT_ENCODER": "hashing", "CALLSCOUT_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", code, "watch", str(inbox), "--catalogue", str(CATALOGUE), "--db", str(db), *extra]
    log = db.parent / f"watch-{time.monotonic_ns()}.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    process.log = log
    return process


def output(process: subprocess.Popen) -> str:
    return process.log.read_text(encoding="utf-8")


def wait_ready(process: subprocess.Popen) -> None:
    """Until the watcher says it is watching (its SIGTERM handler is in place by then)."""
    wait_for(lambda: "watching " in output(process), 60, "the watcher to start", [process])


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    process.wait(timeout=timeout)
    return process.returncode, output(process)


def stop_watch(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    return finish(process, timeout)


def inbox_files(inbox: Path) -> list[Path]:
    return [p for p in inbox.iterdir() if p.is_file()]  # hidden .part files included


def run_end_to_end(inbox: Path, db: Path, fake: bool) -> None:
    (inbox / "kunde_hochzeit.meta.json").write_text('{"customer_id": "K-1001"}', encoding="utf-8")
    drop(inbox / "kunde_hochzeit.txt", HOCHZEIT.read_text(encoding="utf-8"))
    watcher = start_watch(inbox, db, "--settle", "1", fake=fake)
    wait_ready(watcher)
    try:
        drop(inbox / "umzug.txt", call_text(1))
        drop(inbox / "bad.vtt", "no header\n00:00.000 --> 00:01.000\nKunde: Hallo\n")
        slow = inbox / "slow.txt"
        with slow.open("w", encoding="utf-8") as handle:  # written in two halves, in place
            handle.write("[00:00:00] Berater: Guten Tag.\n")
            handle.flush()
            time.sleep(0.4)  # well below --settle
            assert slow.exists(), "slow.txt was taken before it was complete"
            handle.write("[00:00:05] Kunde: Wir haben ein Baby bekommen.\n")
        wait_for(lambda: not inbox_files(inbox), 120, "the inbox to empty", [watcher])
        drop(inbox / "kopie.txt", HOCHZEIT.read_text(encoding="utf-8"))  # same content, another name
        wait_for(lambda: (inbox / "processed" / "kopie.txt").exists(), 60, "kopie.txt in processed/", [watcher])
    finally:
        code, stderr = stop_watch(watcher)
    assert code == 0, stderr

    assert files_below(inbox) == [
        "failed/bad.vtt",
        "failed/bad.vtt.error.txt",
        "processed/kopie.txt",
        "processed/kunde_hochzeit.meta.json",
        "processed/kunde_hochzeit.txt",
        "processed/slow.txt",
        "processed/umzug.txt",
    ]
    assert "WEBVTT" in (inbox / "failed" / "bad.vtt.error.txt").read_text(encoding="utf-8")
    sha = file_sha256(HOCHZEIT)
    assert query(db, "SELECT count(*), customer_id FROM calls WHERE source_sha256 = ?", sha) == [(1, "K-1001")]
    assert query(db, "SELECT status, count(*) FROM calls GROUP BY status ORDER BY status") == [("done", 3), ("failed", 1)]
    assert query(db, "SELECT error LIKE '%WEBVTT%' FROM calls WHERE status = 'failed'") == [(1,)]
    slow_texts = query(db, "SELECT s.text FROM segments s JOIN calls c ON c.id = s.call_id WHERE c.source_path LIKE '%slow.txt'")
    assert ("Wir haben ein Baby bekommen.",) in slow_texts  # read whole, not half
    assert query(db, "SELECT count(*) FROM opportunities")[0][0] > 0
    assert "unchanged\tkopie.txt" in stderr


def test_watch_end_to_end(tmp_path, inbox):
    run_end_to_end(inbox, tmp_path / "calls.db", fake=True)


@pytest.mark.slow
def test_watch_end_to_end_real_extraction(tmp_path, inbox):
    run_end_to_end(inbox, tmp_path / "calls.db", fake=False)


def test_two_watchers_never_take_one_file_twice(tmp_path, inbox):
    db = tmp_path / "calls.db"
    Store(db).close()
    names = [f"call{n:02d}.txt" for n in range(16)]
    for n, name in enumerate(names):
        drop(inbox / name, call_text(n))
    watchers = [start_watch(inbox, db, "--settle", "0.5") for _ in range(2)]
    for watcher in watchers:
        wait_ready(watcher)
    try:
        wait_for(lambda: not inbox_files(inbox), 60, "the inbox to empty", watchers)
    finally:
        results = [stop_watch(watcher) for watcher in watchers]
    assert [code for code, _ in results] == [0, 0], [err for _, err in results]

    reports = [line.split("\t")[:2] for _, err in results for line in err.splitlines() if "\t" in line]
    taken = sorted(name.split()[0] for _, name in reports)
    assert taken == names  # each file reported once, by one watcher
    assert {status for status, _ in reports} == {"done"}
    assert files_below(inbox) == [f"processed/{name}" for name in names]
    assert query(db, "SELECT count(*), count(DISTINCT source_sha256) FROM calls WHERE status = 'done'") == [(16, 16)]


def test_once_processes_what_is_there_and_exits(tmp_path, inbox):
    db = tmp_path / "calls.db"
    drop(inbox / "a.txt", call_text(1))
    drop(inbox / "b.vtt", "kaputt\n")
    code, stderr = finish(start_watch(inbox, db, "--settle", "0.5", "--once"))

    assert code == 0, stderr
    assert files_below(inbox) == ["failed/b.vtt", "failed/b.vtt.error.txt", "processed/a.txt"]
    assert query(db, "SELECT status FROM calls ORDER BY status") == [("done",), ("failed",)]
