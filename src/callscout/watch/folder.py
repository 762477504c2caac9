"""Hot folder: process every call that lands in an inbox folder, then file it away.

A file is taken once its size and mtime (and those of its ``NAME.meta.json``) have stayed
the same for ``settle`` seconds and no process on this machine has it open for writing
(``watch.open_files``, Linux; elsewhere, and for writers on other machines, settle time alone
decides). It goes through the same ``Pipeline`` as ``process``; then
it moves, with its sidecar, to ``INBOX/processed/`` (done, or unchanged: same content seen
before) or to ``INBOX/failed/`` beside a ``NAME.error.txt`` saying why. Sub-folders are
kept below processed/ and failed/; a name already taken there gets ``-2``, ``-3``, ...

Locking: each file is claimed with an exclusive, non-blocking ``fcntl.flock`` on the file
itself, held until it has been moved; after claiming, the path must still name the same
file (device, inode, size, mtime). So several watchers may share one folder (on one
machine or a file system with working flock) and no file is processed twice. Nothing is
left behind when a watcher dies: the kernel drops its locks, and the file stays in the
inbox for the next run.

Writers: the check for open writers runs once per round for all settled files, and again
right after a file is claimed. A file whose signature changed while it was processed (a
writer on another machine) is not filed away: the call just stored from it is deleted and
the file is taken again, whole, once it has settled.

File events come from watchdog when it is installed and the file system supports it; a
full rescan still runs every ``rescan_interval`` seconds. Otherwise the folder is polled.
Only Python calls touch file names; nothing goes through a shell.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from callscout.inputs.discovery import discover, files_in, kind_of, sidecar_path
from callscout.process import FileOutcome, Pipeline, RunSummary
from callscout.staging import file_sha256
from callscout.store.database import result_key
from callscout.store.rows import call_id_for
from callscout.watch.open_files import open_for_writing

log = logging.getLogger("callscout")

PROCESSED = "processed"
FAILED = "failed"
ERROR_SUFFIX = ".error.txt"
MIN_SCAN_GAP = 0.25  # seconds between two scans, however many file events arrive
WAIT_SLICE = 0.2  # seconds; how quickly a stop request ends a wait

Signature = tuple  # (st_dev, st_ino, st_size, st_mtime_ns, sidecar size and mtime or None)
OnFile = Callable[[FileOutcome, Path], None]
OnStart = Callable[[bool], None]  # called with True when file events work, False when polling


class WatchError(RuntimeError):
    """The inbox cannot be watched (missing, or processed/ and failed/ cannot be made)."""


@dataclass
class WatchOptions:
    settle: float = 5.0  # seconds a file must stay unchanged before it is taken
    once: bool = False  # take what is there at the start (once settled), then return
    customer_pattern: str | None = None  # --customer-from-name
    poll_interval: float = 1.0  # seconds between scans without file events
    rescan_interval: float = 30.0  # with file events, a full scan at least this often


def signature(path: Path) -> Signature | None:
    """What must stay the same while a file settles; None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        side = os.stat(sidecar_path(path))
        side_sig = (side.st_size, side.st_mtime_ns)
    except OSError:
        side_sig = None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, side_sig)


@dataclass
class SettleTracker:
    """Which files have kept the same signature for ``settle`` seconds."""

    settle: float
    clock: Callable[[], float] = time.monotonic
    seen: dict[Path, tuple[Signature, float]] = field(default_factory=dict)

    def update(self, paths: list[Path]) -> list[tuple[Path, Signature]]:
        """Record what each file looks like now; return those that have settled."""
        now = self.clock()
        current = {path: signature(path) for path in paths}
        self.seen = {
            path: (sig, self.seen[path][1] if path in self.seen and self.seen[path][0] == sig else now)
            for path, sig in current.items()
            if sig is not None
        }
        return [(path, sig) for path, (sig, since) in self.seen.items() if now - since >= self.settle]

    def next_due(self) -> float | None:
        """Seconds until the next file settles, if any is still settling.

        Files settled but not taken (open for writing, claimed by another watcher, stuck)
        wait for a file event or the next scan instead: counting them would spin."""
        now = self.clock()
        waits = [since + self.settle - now for _, since in self.seen.values() if since + self.settle > now]
        return min(waits) if waits else None


@contextmanager
def claim(path: Path, expected: Signature) -> Iterator[bool]:
    """Hold an exclusive flock on ``path`` if no one else does and it is still the same file."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the lock is no longer needed
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False  # another watcher has it
            return
        opened = os.fstat(handle.fileno())
        same = signature(path) == expected and (opened.st_dev, opened.st_ino) == expected[:2]
        yield same


def free_destination(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.suffix``, ... where neither it, its sidecar nor its error note exists."""
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while any(p.exists() for p in (candidate, sidecar_path(candidate), error_note(candidate))):
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate


def error_note(path: Path) -> Path:
    return path.with_name(path.name + ERROR_SUFFIX)


def file_away(inbox: Path, path: Path, outcome: FileOutcome) -> Path:
    """Move a taken file and its sidecar to processed/ or failed/ (with the error note)."""
    failed = outcome.status == "failed"
    relative = path.relative_to(inbox)
    folder = inbox / (FAILED if failed else PROCESSED) / relative.parent
    folder.mkdir(parents=True, exist_ok=True)
    destination = free_destination(folder, path.name)
    shutil.move(path, destination)
    if sidecar_path(path).exists():
        shutil.move(sidecar_path(path), sidecar_path(destination))
    if failed:
        error_note(destination).write_text(f"{outcome.error or 'failed'}\n", encoding="utf-8")
    return destination


class Watcher:
    """One watch run over one inbox; ``run()`` returns when stopped (or, with ``once``, done)."""

    def __init__(self, inbox: Path, pipeline: Pipeline, options: WatchOptions, stop: threading.Event, on_file=None):
        self.inbox = Path(inbox)
        self.pipeline = pipeline
        self.options = options
        self.stop = stop
        self.on_file: OnFile | None = on_file
        self.on_start: OnStart | None = None
        self.wake = threading.Event()
        self.tracker = SettleTracker(options.settle)
        self.summary = RunSummary()
        self.stuck: dict[Path, Signature] = {}  # could not be moved; retried once changed
        self.warned: set[Path] = set()
        self.first: set[Path] | None = None  # with ``once``: the files there at the start
        self.last_scan = 0.0

    def run(self) -> RunSummary:
        with file_events(self.inbox, self.wake) as events:
            if self.on_start:
                self.on_start(events)
            while not self.stop.is_set():
                if self.round() and self.options.once:
                    break
                self.sleep(self.options.rescan_interval if events else self.options.poll_interval)
        return self.summary

    def round(self) -> bool:
        """Scan once and take every settled file; True when nothing is left waiting."""
        self.last_scan = time.monotonic()
        candidates = self.candidates()
        settled = [(path, sig) for path, sig in self.tracker.update(candidates) if self.stuck.get(path) != sig]
        writing = open_for_writing({sig[:2] for _, sig in settled}) if settled else None  # one /proc scan for all
        for path, sig in settled:
            if self.stop.is_set():
                return False
            if writing is not None and sig[:2] in writing:
                continue  # taken once closed: the close wakes the watcher, or the next scan finds it
            self.take(path, sig)
        return all(self.stuck.get(path) == signature(path) for path in candidates if path.exists())

    def candidates(self) -> list[Path]:
        found = [path for path in files_in(self.inbox) if self.supported(path)]
        if self.options.once:
            if self.first is None:
                self.first = set(found)
            found = [path for path in found if path in self.first]
        return found

    def supported(self, path: Path) -> bool:
        if kind_of(path) is not None:
            return True
        if path not in self.warned:
            self.warned.add(path)
            log.warning("%s: not a recording or transcript; left where it is", path.name)
        return False

    def take(self, path: Path, sig: Signature) -> None:
        with claim(path, sig) as claimed:
            if not claimed or being_written(sig):  # a writer may have opened it since the round's scan
                return
            before = self.stored_catalogues(path)
            outcome = self.process(path)
            now = signature(path)
            if now is not None and now != sig:
                self.discard(outcome, before)
                log.warning("%s: changed while it was processed; taken again once it settles", path.name)
                return
            try:
                destination = file_away(self.inbox, path, outcome)
            except OSError as exc:
                self.stuck[path] = sig
                log.error("%s: %s but cannot be moved: %s", path.name, outcome.status, exc)
                return
        self.summary.outcomes.append(outcome)
        if self.on_file:
            self.on_file(outcome, destination)

    def stored_catalogues(self, path: Path) -> set[str] | None:
        """The catalogues the store already has a result of this file's content for; None when
        it has no call for it at all (or the file cannot be read now: processing will say why)."""
        try:
            call_id = call_id_for(file_sha256(path))
        except OSError:
            return None
        store = self.pipeline.store
        if store.find_call(call_id) is None:
            return None
        return set(store.catalogues_of(call_id))

    def discard(self, outcome: FileOutcome, before: set[str] | None) -> None:
        """Delete what this run stored from a file that has changed since: never kept beside
        the whole one. Deleted now, not once the whole file is stored, so that this call's
        opportunities and declines do not shape the whole call's (same customer). What was
        stored before this run (another catalogue's result of the same content) stays."""
        if outcome.status not in ("done", "failed") or outcome.call_id is None:
            return  # unchanged: the row is another file's, stored before
        store, catalogue = self.pipeline.store, self.pipeline.catalogue.name
        try:
            if not before:  # no result of this content was stored before this run
                with store.write_transaction():  # segments, signals, opportunities, evidence cascade
                    # Only while the row still names this file: the call id is the content's sha256,
                    # and another file with the same content may have been stored since; then it is that file's.
                    store.db.execute("DELETE FROM calls WHERE id = ? AND source_path = ?", [outcome.call_id, str(outcome.path)])
            elif outcome.status == "done" and result_key(catalogue) not in before:
                store.delete_result(outcome.call_id, catalogue)
            # else: a failure beside an earlier result, which the store kept as it was
        except sqlite3.Error as exc:
            log.error("%s: could not delete the call stored from it before it changed (%s)", outcome.path.name, exc)

    def process(self, path: Path) -> FileOutcome:
        inputs, skipped = discover([path])
        if not inputs:
            reason = skipped[0][1] if skipped else "not found"
            return FileOutcome(path, "failed", error=reason if path.name in reason else f"{path.name}: {reason}")
        return self.pipeline.process_file(inputs[0], self.options.customer_pattern)

    def sleep(self, interval: float) -> None:
        """Wait for a file event, the next file to settle, the interval or a stop request."""
        due = self.tracker.next_due()
        deadline = time.monotonic() + (interval if due is None else min(interval, due))
        while not self.stop.is_set() and time.monotonic() < deadline:
            if self.wake.wait(min(WAIT_SLICE, max(0.0, deadline - time.monotonic()))):
                self.wake.clear()
                time.sleep(max(0.0, self.last_scan + MIN_SCAN_GAP - time.monotonic()))
                return


def being_written(sig: Signature) -> bool:
    return bool(open_for_writing({sig[:2]}))


@contextmanager
def file_events(inbox: Path, wake: threading.Event) -> Iterator[bool]:
    """Set ``wake`` on every change below ``inbox``; yields False when only polling works."""
    observer = _start_observer(inbox, wake)
    try:
        yield observer is not None
    finally:
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)


def _start_observer(inbox: Path, wake: threading.Event):
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        log.info("watchdog is not installed; polling %s", inbox)
        return None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            # Not opens and read-only closes (the watcher's own reads among them); a close
            # after writing (on_closed, inotify IN_CLOSE_WRITE) is when a held file may be taken.
            if event.event_type not in ("opened", "closed_no_write"):
                wake.set()

    observer = Observer()
    try:
        observer.schedule(Wake(), str(inbox), recursive=True)
        observer.start()
    except (OSError, RuntimeError) as exc:  # inotify limits, file systems without events
        log.warning("no file events for %s (%s); polling instead", inbox, exc)
        return None
    return observer


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``stop`` (the current file is finished); a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("%s: finishing the current file, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prepare_inbox(inbox: Path) -> None:
    if not inbox.is_dir():
        raise WatchError(f"{inbox}: no such folder")
    for name in (PROCESSED, FAILED):
        try:
            (inbox / name).mkdir(exist_ok=True)
        except OSError as exc:
            raise WatchError(f"{inbox / name}: cannot create folder ({exc.strerror or exc})") from None


def watch_folder(
    inbox: Path,
    pipeline: Pipeline,
    options: WatchOptions | None = None,
    *,
    stop: threading.Event | None = None,
    on_file: OnFile | None = None,
    on_start: OnStart | None = None,
) -> RunSummary:
    """Process files arriving in ``inbox`` until ``stop`` is set (or SIGTERM/Ctrl-C when no
    ``stop`` is given), or, with ``options.once``, until what was there is done.

    ``on_start`` is called once the watcher is ready (signal handlers and file events set up).
    """
    inbox = Path(inbox)
    prepare_inbox(inbox)
    watcher = Watcher(inbox, pipeline, options or WatchOptions(), stop or threading.Event(), on_file)
    watcher.on_start = on_start
    if stop is not None:
        return watcher.run()
    with stop_on_signals(watcher.stop):
        return watcher.run()
