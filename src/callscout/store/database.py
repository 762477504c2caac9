"""The SQLite store: one row per call, its segments, signals and opportunities.

Ids are stable (``store.rows``), so processing the same audio again replaces rows instead of adding
them. Signals, opportunities and evidence are kept per catalogue: saving a call's result for one
catalogue replaces that catalogue's rows and leaves every other catalogue's as they are (the
segments are the call's latest transcript). ``call_results`` records which catalogues a call is
done for. A call's complete result is only ever replaced by another complete result:
``mark_processing`` and ``save_failure`` leave a call that is already ``done`` as it
is (its data stays valid; the failure is logged).

Calls of the same customer share opportunities: where a call triggers a product that
already has an open opportunity from another call, it adds an ``opportunity_evidence``
row to that one instead of a duplicate, and the contact policy may hold a new one back
(``store.history.place``). Every call that triggered an opportunity has one evidence row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from callscout.match.catalogue import Policy
from callscout.records import CallRecord, CallResult, Opportunity, Segment, Signal
from callscout.store.history import HELD, Previous, held_by_decline, load_history, load_previous, place
from callscout.store.migrations import apply_migrations, migrations
from callscout.store.rows import (
    CALL_STATUSES,
    DONE,
    EVIDENCE_FIELDS,
    FAILED,
    PROCESSING,
    call_id_for,
    call_row,
    done_call_row,
    evidence_id_for,
    evidence_row,
    opportunity_row,
    placed_row,
    score_of,
    segment_row,
    signal_row,
    unique_by_id,
    utc_now,
)

logger = logging.getLogger("callscout")

BUSY_TIMEOUT_MS = 30_000
CHILD_TABLES = ("segments", "signals", "opportunities")
CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))


class CallNotFound(KeyError):
    """No call matches the given id, sha256 or source path."""


class Store:
    """Calls and their findings in one SQLite file (or ``":memory:"``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], str] = utc_now,
        policies: dict[str, Policy] | None = None,
    ):
        """``policies``: the contact policy per catalogue name (``store.history``); a catalogue
        not named here gets the default ``Policy()``."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.path)
        self._clock = clock
        self.policies = dict(policies or {})
        self._configure()
        self._migrate()

    def _configure(self) -> None:
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self.db.enable_wal()

    def _migrate(self) -> None:
        """Apply pending migrations under the write lock, so two processes opening a new
        store at once do not both create its tables; the second finds nothing pending."""
        if migrations.pending(self.db):
            with self.write_transaction():
                apply_migrations(self.db)

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """One transaction that takes SQLite's write lock up front (``BEGIN IMMEDIATE``).

        A deferred transaction that reads first fails at once with ``database is locked``
        when another process committed in between (the busy timeout cannot help a lock
        upgrade); an immediate one waits up to ``BUSY_TIMEOUT_MS`` for the lock instead.
        """
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def now(self) -> str:
        """The store's clock (UTC, ISO 8601); injectable for tests."""
        return self._clock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # writing

    def save_call(self, record: CallRecord, result: CallResult, *, policy: Policy | None = None) -> str:
        """Write a finished call and replace its segments, signals and opportunities atomically.

        Re-saving the same result changes only ``processed_at`` and ``updated_at``;
        an opportunity keeps its ``created_at``, ``status``, ``held_reason`` and CRM
        outcome. ``policy`` defaults to ``policies[record.catalogue]``, else ``Policy()``.
        """
        call_id = _checked_call_id(record)
        now = self._clock()
        call = done_call_row(record, result, now)
        policy = policy or self.policies.get(call["catalogue"] or "") or Policy()
        catalogue = call["catalogue"]
        with self.write_transaction():
            previous = load_previous(self.db, call_id, catalogue)
            self._upsert_call(call)
            self.db.execute("UPDATE calls SET purged_at = NULL WHERE id = ?", [call_id])
            self._delete_results(call_id, catalogue)
            self._insert_segments(call_id, result.transcript.segments)
            self._insert_signals(call_id, catalogue, result.signals)
            self._record_result(call)
            self._save_opportunities(call, result.opportunities, previous, policy, now)
            self._hold_declined(call, {s.label for s in result.signals if s.kind == "declined"}, policy, now)
        logger.debug("saved call %s (%d opportunities)", call_id, len(result.opportunities))
        return call_id

    def delete_result(self, call_id: str, catalogue: str | None) -> None:
        """Remove one catalogue's result of a call (its signals, opportunities, evidence and
        ``call_results`` row), leaving the call and every other catalogue's result."""
        with self.write_transaction():
            for table in ("signals", "opportunities", "opportunity_evidence"):
                self.db.execute(f"DELETE FROM {table} WHERE call_id = ? AND catalogue IS ?", [call_id, catalogue])
            self.db.execute("DELETE FROM call_results WHERE call_id = ? AND catalogue = ?", [call_id, result_key(catalogue)])

    def mark_processing(self, record: CallRecord) -> str:
        call_id = _checked_call_id(record)
        row = call_row(record, status=PROCESSING, error=None, processed_at=self._clock())
        with self.write_transaction():  # committed now: no write lock held while the call is transcribed
            stored = self._upsert_call(row, unless_done=True)
        if not stored:
            logger.debug("call %s is already done; left as it is", call_id)
        return call_id

    def save_failure(self, record: CallRecord) -> str:
        """Record a failed call, unless an earlier run completed it (then only log)."""
        call_id = _checked_call_id(record)
        row = call_row(record, status=FAILED, processed_at=self._clock())
        with self.write_transaction():
            stored = self._upsert_call(row, unless_done=True)
        if not stored:
            logger.warning("call %s failed again but keeps its earlier result: %s", call_id, record.error)
        return call_id

    def _upsert_call(self, row: dict[str, Any], *, unless_done: bool = False) -> bool:
        columns = ", ".join(CALL_COLUMNS)
        values = ", ".join(f":{column}" for column in CALL_COLUMNS)
        updates = ", ".join(f"{column} = excluded.{column}" for column in CALL_COLUMNS if column != "id")
        condition = f" WHERE calls.status != '{DONE}'" if unless_done else ""
        sql = f"INSERT INTO calls ({columns}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {updates}{condition}"
        return self.db.execute(sql, row).rowcount > 0

    def _delete_results(self, call_id: str, catalogue: str | None) -> None:
        """The call's transcript, and this catalogue's signals, opportunities and evidence."""
        self.db.execute("DELETE FROM segments WHERE call_id = ?", [call_id])
        for table in ("signals", "opportunities", "opportunity_evidence"):
            self.db.execute(f"DELETE FROM {table} WHERE call_id = ? AND catalogue IS ?", [call_id, catalogue])

    def _record_result(self, call: dict[str, Any]) -> None:
        """Mark the call done for its catalogue; the call is sensitive if any catalogue's result is."""
        self.db["call_results"].upsert(
            {
                "call_id": call["id"],
                "catalogue": result_key(call["catalogue"]),
                "processed_at": call["processed_at"],
                "sensitive": call["sensitive"],
            },
            pk=("call_id", "catalogue"),
        )
        self.db.execute(
            "UPDATE calls SET sensitive = (SELECT max(sensitive) FROM call_results WHERE call_id = ?) WHERE id = ?",
            [call["id"], call["id"]],
        )

    def _insert_segments(self, call_id: str, segments: list[Segment]) -> None:
        rows = [segment_row(call_id, idx, segment) for idx, segment in enumerate(segments)]
        self.db["segments"].insert_all(rows)

    def _insert_signals(self, call_id: str, catalogue: str | None, signals: list[Signal]) -> None:
        rows = unique_by_id([signal_row(call_id, signal, catalogue) for signal in signals])
        self.db["signals"].insert_all(rows)

    def _save_opportunities(
        self,
        call: dict[str, Any],
        opportunities: list[Opportunity],
        previous: Previous,
        policy: Policy,
        now: str,
    ) -> None:
        """Place each opportunity (own row or evidence for another call's, ``store.history.place``);
        every placement gets an evidence row, whose ``added_at`` survives a re-save."""
        rows = unique_by_id([opportunity_row(call, o, now) for o in opportunities], prefer=score_of)
        rows.sort(key=lambda row: (-score_of(row), row["product_id"]))
        history = load_history(self.db, call, policy)
        placements = place([(row["product_id"], row["id"]) for row in rows], previous, history, policy)
        own, evidence, appended = [], [], set()
        for row, placement in zip(rows, placements):
            if placement.append:
                appended.add(placement.opportunity_id)
            else:
                own.append(placed_row(row, placement))
            evidence_id = evidence_id_for(placement.opportunity_id, call["id"])
            evidence.append(evidence_row(placement.opportunity_id, call["id"], row, previous.added_at.get(evidence_id, now)))
        own.extend(self._still_evidenced(previous, {row["product_id"] for row in rows}, now))
        self._insert_opportunities(own, evidence)
        for opportunity_id in sorted(appended):
            self.db.execute("UPDATE opportunities SET updated_at = ? WHERE id = ?", [now, opportunity_id])

    def _hold_declined(self, call: dict[str, Any], declined: set[str], policy: Policy, now: str) -> None:
        for opportunity_id, reason in held_by_decline(self.db, call, declined, policy).items():
            self.db.execute(
                "UPDATE opportunities SET status = ?, held_reason = ?, updated_at = ? WHERE id = ?", [HELD, reason, now, opportunity_id]
            )

    def _insert_opportunities(self, rows: list[dict[str, Any]], evidence: list[dict[str, Any]]) -> None:
        self.db["opportunities"].insert_all(rows)
        self.db["opportunity_evidence"].insert_all(evidence)

    def _still_evidenced(self, previous: Previous, products: set[str], now: str) -> list[dict[str, Any]]:
        """This call's earlier opportunities it no longer triggers but later calls added evidence
        to: kept (same id, status and outcome), their evidence taken from the earliest other call."""
        kept = []
        for product_id, row in previous.own.items():
            if product_id in products:
                continue
            other = self._first_row(
                "SELECT * FROM opportunity_evidence WHERE opportunity_id = ? ORDER BY added_at, id LIMIT 1", [row["id"]]
            )
            if other is not None:
                kept.append({**row, **{key: other[key] for key in EVIDENCE_FIELDS}, "updated_at": now})
        return kept

    # reading

    def find_call(self, key: str) -> dict[str, Any] | None:
        """The call with this id, audio sha256 or source path (the latest processed one)."""
        for column in ("id", "source_sha256", "source_path"):
            row = self._first_row(
                f"SELECT * FROM calls WHERE {column} = ? ORDER BY processed_at DESC, id LIMIT 1", [str(key)]
            )
            if row is not None:
                return row
        return None

    def has_result(self, call_id: str, catalogue: str | None) -> bool:
        """Whether the call is stored ``done`` with a result for this catalogue."""
        row = self._first_row(
            "SELECT 1 AS found FROM call_results r JOIN calls c ON c.id = r.call_id"
            " WHERE r.call_id = ? AND r.catalogue = ? AND c.status = ?",
            [call_id, result_key(catalogue), DONE],
        )
        return row is not None

    def catalogues_of(self, call_id: str) -> list[str]:
        """The catalogues this call has results for, in the order they were first saved."""
        return [row["catalogue"] for row in self.db.query(
            "SELECT catalogue FROM call_results WHERE call_id = ? ORDER BY rowid", [call_id]
        )]

    def call_status(self, sha256: str) -> str | None:
        row = self._first_row("SELECT status FROM calls WHERE source_sha256 = ?", [sha256])
        return row["status"] if row else None

    def call_detail(self, key: str) -> dict[str, Any]:
        """``{"call": row, "segments": [...], "signals": [...], "opportunities": [...], "appended": [...]}``;
        ``appended``: other calls' opportunities this call added evidence to."""
        call = self.find_call(key)
        if call is None:
            raise CallNotFound(key)
        call_id = call["id"]
        return {
            "call": call,
            "segments": self._rows("SELECT * FROM segments WHERE call_id = ? ORDER BY idx", [call_id]),
            "catalogues": self.catalogues_of(call_id),
            "signals": self._rows("SELECT * FROM signals WHERE call_id = ? ORDER BY start_s, catalogue, id", [call_id]),
            "opportunities": self._rows(
                "SELECT * FROM opportunities WHERE call_id = ? ORDER BY catalogue, score DESC, id", [call_id]
            ),
            "appended": self._rows(
                "SELECT o.id, o.call_id, o.product_id, o.product_name, o.status, o.held_reason, o.pitch_id,"
                " e.trigger_kind, e.trigger_label, e.evidence, e.start_s, e.score"
                " FROM opportunity_evidence e JOIN opportunities o ON o.id = e.opportunity_id"
                " WHERE e.call_id = ? AND o.call_id != ? ORDER BY e.score DESC, o.id",
                [call_id, call_id],
            ),
        }

    def iter_opportunities(
        self, *, updated_since: str | None = None, with_call: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Opportunities ordered by ``created_at, id``.

        ``updated_since`` keeps those updated after that timestamp (export watermarks);
        ``with_call`` adds the call's ``source_path``, ``language``, ``recorded_at`` and
        ``account_manager``.
        """
        call_fields = ", c.source_path, c.language, c.recorded_at, c.account_manager" if with_call else ""
        sql = f"SELECT o.*{call_fields} FROM opportunities o JOIN calls c ON c.id = o.call_id"
        parameters: list[Any] = []
        if updated_since is not None:
            sql += " WHERE o.updated_at > ?"
            parameters.append(updated_since)
        yield from self.db.query(sql + " ORDER BY o.created_at, o.id", parameters)

    def counts(self) -> dict[str, int]:
        """Rows per table, and calls per status (``calls_done``, ...)."""
        result = {table: self.db[table].count for table in ("calls", *CHILD_TABLES)}
        for status in CALL_STATUSES:
            row = self._first_row("SELECT count(*) AS n FROM calls WHERE status = ?", [status])
            result[f"calls_{status}"] = row["n"] if row else 0
        return result

    def _rows(self, sql: str, parameters: list[Any]) -> list[dict[str, Any]]:
        return list(self.db.query(sql, parameters))

    def _first_row(self, sql: str, parameters: list[Any]) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, parameters)), None)


def result_key(catalogue: str | None) -> str:
    """``call_results.catalogue`` for a catalogue name; '' when the call had none."""
    return catalogue or ""


def _checked_call_id(record: CallRecord) -> str:
    expected = call_id_for(record.source_sha256)
    if record.id != expected:
        raise ValueError(f"call id {record.id!r} does not match its sha256 (expected {expected!r})")
    return record.id
