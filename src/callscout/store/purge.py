"""Data minimisation: delete the transcripts of old calls, keep what the CRM needs.

``purge_transcripts(store, older_than_days=N)`` takes every call that is not in flight and
not purged yet whose age is more than N days, and in one transaction

- deletes its segments (the transcript),
- blanks its signals' evidence (quotes of the transcript; kind, label and times stay, so
  counts and "why" statistics survive),
- blanks the evidence quotes of its ``opportunity_evidence`` rows (which call triggered
  which opportunity, and when, stay),
- keeps its opportunities whole, evidence quote included (already redacted; it is the
  reason a CRM user sees), and
- sets ``calls.purged_at``, so later purges skip it and a re-run of ``process`` on the same
  file with the same catalogue leaves it as it is (an unchanged ``done`` call). Processing it
  with another catalogue transcribes it again and stores the new transcript (``purged_at``
  cleared) until the next purge.

A call's age runs from when it was recorded (sidecar ``recorded_at``, naive times read as
UTC), else from when it was processed. SQLite's ``secure_delete`` overwrites the freed
pages and a WAL checkpoint truncates the log, so the deleted text does not linger in the
file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from callscout.store.database import Store
from callscout.store.rows import PROCESSING

log = logging.getLogger("callscout")


@dataclass
class PurgeResult:
    cutoff: str  # calls older than this (UTC, ISO 8601) were purged
    calls: int = 0
    segments: int = 0  # rows deleted
    signals: int = 0  # evidence blanked
    evidence: int = 0  # opportunity_evidence quotes blanked


def purge_transcripts(store: Store, older_than_days: int, now: datetime | None = None) -> PurgeResult:
    """Delete segments and signal evidence of calls older than ``older_than_days``."""
    if older_than_days < 0:
        raise ValueError(f"older_than_days must be 0 or more, got {older_than_days}")
    now = _utc(now or datetime.now(timezone.utc))
    cutoff = now - timedelta(days=older_than_days)
    result = PurgeResult(cutoff=cutoff.isoformat(timespec="seconds"))
    store.db.execute("PRAGMA secure_delete = ON")
    with store.write_transaction():
        for call_id in _due(store, cutoff):
            _purge_call(store, call_id, now, result)
    if store.path != ":memory:":
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log.info("purged %d calls (%d segments) older than %s", result.calls, result.segments, result.cutoff)
    return result


def _due(store: Store, cutoff: datetime) -> list[str]:
    rows = store.db.execute(
        "SELECT id, recorded_at, processed_at FROM calls WHERE purged_at IS NULL AND status != ?",
        [PROCESSING],
    ).fetchall()
    return [call_id for call_id, recorded, processed in rows if _is_older(recorded or processed, cutoff)]


def _is_older(timestamp: str | None, cutoff: datetime) -> bool:
    if not timestamp:
        return False
    try:
        return _utc(datetime.fromisoformat(timestamp)) < cutoff
    except ValueError:
        log.warning("call time %r is not ISO 8601; call kept", timestamp)
        return False


def _purge_call(store: Store, call_id: str, now: datetime, result: PurgeResult) -> None:
    db = store.db
    result.segments += db.execute("DELETE FROM segments WHERE call_id = ?", [call_id]).rowcount
    result.signals += db.execute(
        "UPDATE signals SET evidence = NULL WHERE call_id = ? AND evidence IS NOT NULL", [call_id]
    ).rowcount
    result.evidence += db.execute(
        "UPDATE opportunity_evidence SET evidence = NULL WHERE call_id = ? AND evidence IS NOT NULL", [call_id]
    ).rowcount
    db.execute("UPDATE calls SET purged_at = ? WHERE id = ?", [now.isoformat(timespec="seconds"), call_id])
    result.calls += 1


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
