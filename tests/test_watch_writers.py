"""The hot folder and files still being written: open writers (/proc), files changed after
they were taken. Real processes and real files; ``KeywordExtractor`` instead of spaCy."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from callscout.staging import file_sha256
from callscout.watch import open_files
from callscout.watch.folder import SettleTracker, Watcher, WatchOptions, signature, watch_folder
from tests.test_watch import call_text, drop, files_below, inbox, pipeline, store  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not open_files.available(), reason="needs Linux /proc")

FIRST = "[00:00:00] Berater: Guten Tag, hier ist die Beratung.\n"
REST = "[00:00:04] Kunde: Wir sind letzte Woche umgezogen.\n[00:00:09] Kunde: Und wir haben ein Baby bekommen.\n"

WRITER = """
import sys, time
path, first, rest, closed, pause = sys.argv[1:]
with open(path, "w", encoding="utf-8") as handle:
    handle.write(first)
    handle.flush()
    print("half", flush=True)
    time.sleep(float(pause))
    handle.write(rest)
open(closed, "w").close()
"""


def segment_texts(store, source: Path) -> list[str]:
    rows = store.db.execute(
        "SELECT s.text FROM segments s JOIN calls c ON c.id = s.call_id WHERE c.source_path = ? ORDER BY s.idx", [str(source)]
    ).fetchall()
    return [text for (text,) in rows]


def with_deadline(seconds: float) -> threading.Event:
    """A stop event that fires after ``seconds``: a watcher that never finishes fails the test."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


# open_for_writing


def test_open_for_writing_sees_writers_not_readers(tmp_path):
    written, read, appended = (tmp_path / name for name in ("w.txt", "r.txt", "a.txt"))
    for path in (written, read, appended):
        path.write_text("x", encoding="utf-8")
    ident = lambda path: (path.stat().st_dev, path.stat().st_ino)  # noqa: E731

    with open(written, "w"), open(read), open(appended, "r+"):
        found = open_files.open_for_writing()
        assert ident(written) in found
        assert ident(appended) in found
        assert ident(read) not in found
    assert not {ident(p) for p in (written, read, appended)} & open_files.open_for_writing()


def test_open_for_writing_sees_another_process_after_a_rename(tmp_path):
    path = tmp_path / "call.txt"
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys; h = open(sys.argv[1], 'a'); print('open', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "open\n"
        moved = path.rename(tmp_path / "moved.txt")
        assert (moved.stat().st_dev, moved.stat().st_ino) in open_files.open_for_writing()
    finally:
        writer.communicate("")
    assert (moved.stat().st_dev, moved.stat().st_ino) not in open_files.open_for_writing()


# a writer that pauses longer than --settle


@pytest.mark.parametrize("events", [True, False], ids=["watchdog", "polling"])
def test_a_file_open_for_writing_is_not_taken(tmp_path, inbox, pipeline, store, monkeypatch, events):
    if not events:
        monkeypatch.setattr("callscout.watch.folder._start_observer", lambda inbox, wake: None)
    path, closed = inbox / "slow.txt", tmp_path / "closed"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), FIRST, REST, str(closed), "1.5"], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline() == "half\n"  # half written, then a pause five times --settle
    taken_while_open = []

    def on_file(outcome, destination) -> None:
        taken_while_open.append(not closed.exists())

    options = WatchOptions(settle=0.3, once=True, poll_interval=0.1)
    try:
        summary = watch_folder(inbox, pipeline, options, stop=with_deadline(20), on_file=on_file)
    finally:
        writer.wait(timeout=20)

    assert taken_while_open == [False]
    assert [o.status for o in summary.outcomes] == ["done"]
    assert segment_texts(store, path) == [
        "Guten Tag, hier ist die Beratung.",
        "Wir sind letzte Woche umgezogen.",
        "Und wir haben ein Baby bekommen.",
    ]
    assert files_below(inbox) == ["processed/slow.txt"]


def test_a_held_file_does_not_make_the_watcher_spin(inbox, pipeline, monkeypatch):
    monkeypatch.setattr("callscout.watch.folder._start_observer", lambda inbox, wake: None)
    rounds = []
    original = Watcher.round
    monkeypatch.setattr(Watcher, "round", lambda self: rounds.append(1) or original(self))
    path = inbox / "held.txt"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(call_text(1))
        handle.flush()
        summary = watch_folder(inbox, pipeline, WatchOptions(settle=0, poll_interval=0.2), stop=with_deadline(1.0))
    assert summary.outcomes == []
    assert files_below(inbox) == ["held.txt"]
    assert len(rounds) < 15  # one scan per poll interval, not a busy loop


def test_settled_files_are_not_due_again():
    now = [0.0]
    tracker = SettleTracker(settle=1.0, clock=lambda: now[0])
    tracker.seen = {Path("a"): (("sig",), 0.0), Path("b"): (("sig",), 0.5)}
    assert tracker.next_due() == pytest.approx(1.0)
    now[0] = 1.2
    assert tracker.next_due() == pytest.approx(0.3)  # a has settled: only b counts
    now[0] = 2.0
    assert tracker.next_due() is None


def test_without_proc_settle_time_alone_decides(inbox, pipeline, monkeypatch):
    monkeypatch.setattr(open_files, "PROC", str(inbox / "no-proc"))
    assert open_files.open_for_writing() is None
    path = inbox / "held.txt"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(call_text(1))
        handle.flush()
        summary = watch_folder(inbox, pipeline, WatchOptions(settle=0.2, once=True), stop=with_deadline(20))
    assert [o.status for o in summary.outcomes] == ["done"]


# a file that changes after it was taken (a writer on another machine)


def append_after_first_processing(monkeypatch, path: Path, text: str) -> None:
    """While the watcher holds ``path`` (processed, not yet filed away), its writer adds to it."""
    original = Watcher.process
    appended = []

    def process(self, taken):
        outcome = original(self, taken)
        if taken == path and not appended:
            appended.append(outcome.call_id)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)
        return outcome

    monkeypatch.setattr(Watcher, "process", process)


def test_a_file_changed_while_processed_replaces_its_partial_call(inbox, pipeline, store, monkeypatch):
    path = drop(inbox / "call.txt", FIRST)
    partial = file_sha256(path)
    append_after_first_processing(monkeypatch, path, REST)
    reports = []

    summary = watch_folder(
        inbox, pipeline, WatchOptions(settle=0.2, once=True), stop=with_deadline(20), on_file=lambda o, d: reports.append(d)
    )

    assert [o.status for o in summary.outcomes] == ["done"]
    assert reports == [inbox / "processed" / "call.txt"]
    assert store.db.execute("SELECT source_sha256 FROM calls WHERE source_path = ?", [str(path)]).fetchall() == [
        (file_sha256(inbox / "processed" / "call.txt"),)
    ]
    assert store.db.execute("SELECT count(*) FROM calls WHERE source_sha256 = ?", [partial]).fetchone() == (0,)
    assert len(segment_texts(store, path)) == 3


def test_the_partial_call_does_not_take_the_whole_calls_opportunities(inbox, pipeline, store, monkeypatch):
    path = drop(inbox / "K-7_call.txt", FIRST + "[00:00:04] Kunde: Wir sind letzte Woche umgezogen.\n")
    append_after_first_processing(monkeypatch, path, "[00:00:09] Kunde: Und wir haben ein Baby bekommen.\n")

    summary = watch_folder(inbox, pipeline, WatchOptions(settle=0.2, once=True, customer_pattern=r"^(K-\d+)_"), stop=with_deadline(20))

    (call_id,) = [o.call_id for o in summary.outcomes]
    assert store.db.execute("SELECT source_sha256 FROM calls").fetchall() == [(file_sha256(inbox / "processed" / path.name),)]
    own = store.db.execute("SELECT count(*) FROM opportunities WHERE call_id = ?", [call_id]).fetchone()[0]
    assert own > 0  # the moving opportunity is the whole call's own, not evidence for a deleted one
    orphans = store.db.execute(
        "SELECT count(*) FROM opportunity_evidence e LEFT JOIN opportunities o ON o.id = e.opportunity_id WHERE o.id IS NULL"
    ).fetchone()
    assert orphans == (0,)


def test_an_unchanged_partial_keeps_the_other_files_call(inbox, pipeline, store, monkeypatch):
    first = drop(inbox / "a.txt", call_text(1))
    watch_folder(inbox, pipeline, WatchOptions(settle=0, once=True), stop=with_deadline(20))
    path = drop(inbox / "b.txt", call_text(1))  # the same content: "unchanged", a.txt's call
    append_after_first_processing(monkeypatch, path, "[00:00:09] Kunde: Wir haben geheiratet.\n")

    watch_folder(inbox, pipeline, WatchOptions(settle=0.2, once=True), stop=with_deadline(20))

    rows = store.db.execute("SELECT source_path FROM calls ORDER BY source_path").fetchall()
    assert rows == [(str(first),), (str(path),)]
    assert files_below(inbox) == ["processed/a.txt", "processed/b.txt"]


def test_a_file_replaced_between_settle_and_claim_is_left_to_settle_again(inbox, pipeline):
    path = drop(inbox / "call.txt", FIRST)
    watcher = Watcher(inbox, pipeline, WatchOptions(settle=0), threading.Event())
    settled = signature(path)
    drop(path, FIRST + REST)
    watcher.take(path, settled)
    assert files_below(inbox) == ["call.txt"]
    assert pipeline.store.db.execute("SELECT count(*) FROM calls").fetchone() == (0,)


def test_a_file_changed_while_processed_for_a_second_catalogue_keeps_the_first_catalogues_result(inbox, pipeline, store, monkeypatch):
    from callscout.config import Config
    from callscout.match.catalogue import load_catalogue
    from callscout.process import Pipeline
    from tests.test_watch import CATALOGUE, KeywordExtractor

    text = FIRST + "[00:00:04] Kunde: Wir sind letzte Woche umgezogen.\n"
    other = Pipeline(Config(), load_catalogue(CATALOGUE.with_name("technik.yaml")), store, extractor=KeywordExtractor())
    path = drop(inbox / "call.txt", text)
    call_id = file_sha256(path)[:16]
    watch_folder(inbox, other, WatchOptions(settle=0, once=True), stop=with_deadline(20))
    assert store.catalogues_of(call_id) == ["technik"]

    path = drop(inbox / "call.txt", text)  # the same recording again, now for finanz, and it grows while processed
    append_after_first_processing(monkeypatch, path, "[00:00:09] Kunde: Und wir haben ein Baby bekommen.\n")
    watch_folder(inbox, pipeline, WatchOptions(settle=0.2, once=True), stop=with_deadline(20))

    assert store.catalogues_of(call_id) == ["technik"]  # finanz's partial result gone, technik's kept
    assert store.db.execute("SELECT count(*) FROM signals WHERE call_id = ? AND catalogue = 'technik'", [call_id]).fetchone()[0] > 0
    # the whole file, taken again once settled, is a call of its own for finanz
    assert store.db.execute("SELECT call_id, catalogue FROM call_results WHERE call_id != ?", [call_id]).fetchall() == [
        (file_sha256(inbox / "processed" / "call-2.txt")[:16], "finanz")
    ]
