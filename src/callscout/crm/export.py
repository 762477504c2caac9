"""Export opportunities for a CRM: one formatter per target, written atomically.

A formatter turns opportunity rows (opportunity columns plus a few call fields) into a
file. Add a target by registering another formatter with ``@formatter(name)``; CRM
targets (salesforce, hubspot) register ``tables`` instead and write several CSVs
(see ``crm``). ``since`` exports only what was updated after a timestamp.

Every export records which opportunity ids it contained for its target (format plus
resolved output path) in ``export_items``; ``since_last`` leaves those out, unless a later
call of the same customer added evidence to one after that export (``opportunity_evidence.
added_at``; a re-saved call keeps its rows' ``added_at``). The set of ids, not
``updated_at``, is the watermark: the store bumps ``updated_at`` whenever a call is saved
again, even when nothing changed.

CRM targets leave out opportunities the contact policy held back (``held``), those the
CRM itself closed (``won``, ``lost``: sending them again would reset their stage) and, unless
``include_unassigned``, those without a customer id (counted in ``ExportResult.unassigned``;
not recorded as exported, so a later run sends them once the call is stored with a customer id).

The output's suffix must be one its format writes (or none); ``since_last`` with nothing new
writes nothing and records no export, so a file not yet imported is never overwritten.

CSV and JSON Lines add ``opportunity_type`` after the opportunity columns: ``request`` for a
product the customer asked for (trigger ``requested``), else ``cross_sell``; the CRM files map
it to a column of their own (``crm``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from callscout.crm import mappings as crm
from callscout.match.opportunities import opportunity_type
from callscout.store.database import Store

logger = logging.getLogger("callscout")

CALL_FIELDS = ("source_path", "language", "customer_id", "recorded_at", "account_manager")
DERIVED_FIELDS = ("opportunity_type",)  # from the opportunity's trigger kind
NOT_FOR_CRM = ("held", "won", "lost")  # opportunity statuses the salesforce and hubspot files leave out
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Row = dict[str, Any]
WriteRows = Callable[[Iterable[Row], list[str], IO[str]], int]
MakeTables = Callable[[list[Row], crm.Mapping], list[crm.Table]]


class UnknownFormat(ValueError):
    """No formatter is registered under this name."""


class SuffixMismatch(ValueError):
    """The output's name ends in a suffix the chosen format does not write."""


@dataclass(frozen=True)
class Formatter:
    name: str
    suffix: str
    write: WriteRows
    newline: str | None = None  # passed to open(); csv wants ""
    tables: MakeTables | None = None  # CRM targets: rows -> CSV tables (main file and companions)
    other_suffixes: tuple[str, ...] = ()  # also accepted for the output's name

    @property
    def suffixes(self) -> tuple[str, ...]:
        return (self.suffix, *self.other_suffixes)


@dataclass(frozen=True)
class ExportResult:
    count: int  # opportunities written
    unassigned: int = 0  # left out of a CRM file for want of a customer id
    written: bool = True  # False: ``since_last`` found nothing new and left the files alone


FORMATTERS: dict[str, Formatter] = {}


def formatter(
    name: str, *, suffix: str, newline: str | None = None, other_suffixes: tuple[str, ...] = ()
) -> Callable[[WriteRows], WriteRows]:
    def register(write: WriteRows) -> WriteRows:
        FORMATTERS[name] = Formatter(name, suffix, write, newline, other_suffixes=other_suffixes)
        return write

    return register


def crm_formatter(name: str, tables: MakeTables) -> None:
    """Register a CRM target whose files are CSV tables (``crm.Table``)."""
    FORMATTERS[name] = Formatter(name, ".csv", write_crm_csv, "", tables)


def export_formats() -> list[str]:
    return sorted(FORMATTERS)


def get_formatter(fmt: str) -> Formatter:
    try:
        return FORMATTERS[fmt]
    except KeyError:
        raise UnknownFormat(f"unknown export format {fmt!r}; choose one of {', '.join(export_formats())}") from None


def check_suffix(chosen: Formatter, output: Path) -> None:
    """Refuse an output name whose suffix says another format (no suffix is fine)."""
    suffix = Path(output).suffix
    if suffix and suffix.lower() not in chosen.suffixes:
        raise SuffixMismatch(
            f"--output {output}: suffix '{suffix}' does not match --format {chosen.name}"
            f" (expected {' or '.join(chosen.suffixes)})"
        )


def export_opportunities(store: Store, fmt: str, output: Path, **options: Any) -> int:
    """``run_export``'s count of opportunities written."""
    return run_export(store, fmt, output, **options).count


def run_export(
    store: Store,
    fmt: str,
    output: Path,
    *,
    since: str | None = None,
    since_last: bool = False,
    mapping: crm.Mapping | None = None,
    include_unassigned: bool = False,
) -> ExportResult:
    """Write every opportunity (or those updated after ``since``, or those no earlier export
    to this target contained when ``since_last``) to ``output``."""
    chosen = get_formatter(fmt)
    output = Path(output)
    check_suffix(chosen, output)
    target = export_target(fmt, output)
    rows = list(store.iter_opportunities(updated_since=since, with_call=True))
    if chosen.tables is not None:
        rows = [row for row in rows if row["status"] not in NOT_FOR_CRM]
    if since_last:
        already = exported_ids(store, target)
        rows = [row for row in rows if row["id"] not in already]
    unassigned = 0
    if chosen.tables is not None and not include_unassigned:
        assigned = [row for row in rows if (row.get("customer_id") or "").strip()]
        unassigned, rows = len(rows) - len(assigned), assigned
    if since_last and not rows:
        logger.info("nothing new since the last export to %s (%s)", output, fmt)
        return ExportResult(0, unassigned, written=False)
    if chosen.tables is not None:
        count = write_tables(chosen.tables(with_call_context(store, rows), mapping or crm.Mapping()), output)
    else:
        fieldnames = export_fields(store)
        rows = [{**row, "opportunity_type": opportunity_type(row.get("trigger_kind"))} for row in rows]
        count = write_atomically(output, lambda handle: chosen.write(rows, fieldnames, handle), newline=chosen.newline)
    record_export(store, target, [row["id"] for row in rows])
    logger.info("exported %d opportunities to %s (%s)", count, output, fmt)
    return ExportResult(count, unassigned)


def export_target(fmt: str, output: Path) -> str:
    """What ``since_last`` remembers an export by: the format and the resolved output path."""
    return f"{fmt}:{Path(output).resolve()}"


def exported_ids(store: Store, target: str) -> set[str]:
    """Opportunities an earlier export to ``target`` contained and no call added evidence to since."""
    rows = store.db.execute(
        "SELECT i.opportunity_id FROM export_items i JOIN exports x ON x.id = i.export_id WHERE i.target = ?"
        " AND NOT EXISTS (SELECT 1 FROM opportunity_evidence e"
        " WHERE e.opportunity_id = i.opportunity_id AND e.added_at > x.exported_at)",
        [target],
    ).fetchall()
    return {opportunity_id for (opportunity_id,) in rows}


def record_export(store: Store, target: str, ids: list[str]) -> None:
    """One ``exports`` row, and every id it contained in ``export_items`` (one transaction)."""
    with store.write_transaction():
        cursor = store.db.execute(
            "INSERT INTO exports (target, exported_at, count) VALUES (?, ?, ?)", [target, store.now(), len(ids)]
        )
        store.db.conn.executemany(
            "INSERT INTO export_items (target, opportunity_id, export_id) VALUES (?, ?, ?)"
            " ON CONFLICT (target, opportunity_id) DO UPDATE SET export_id = excluded.export_id",
            [(target, opportunity_id, cursor.lastrowid) for opportunity_id in ids],
        )


def with_call_context(store: Store, rows: list[Row]) -> list[Row]:
    """Add ``call_duration_s``, ``call_signals`` (kind, label) and ``later_evidence`` (what later
    calls of the customer added: recorded_at, the evidence fields) to each row, for CRM summaries."""
    call_ids = json.dumps(sorted({row["call_id"] for row in rows}))
    durations = dict(
        store.db.execute("SELECT id, duration_s FROM calls WHERE id IN (SELECT value FROM json_each(?))", [call_ids])
    )
    signals: dict[tuple[str, str | None], list[Row]] = {}  # (call, catalogue): a call may have several results
    for call_id, catalogue, kind, label in store.db.execute(
        "SELECT call_id, catalogue, kind, label FROM signals WHERE call_id IN (SELECT value FROM json_each(?))"
        " ORDER BY call_id, start_s, id",
        [call_ids],
    ):
        signals.setdefault((call_id, catalogue), []).append({"kind": kind, "label": label})
    later = later_evidence(store, rows)
    return [
        {
            **row,
            "call_duration_s": durations.get(row["call_id"]),
            "call_signals": signals.get((row["call_id"], row.get("catalogue")), []),
            "later_evidence": later.get(row["id"], []),
        }
        for row in rows
    ]


def later_evidence(store: Store, rows: list[Row]) -> dict[str, list[Row]]:
    """Opportunity id -> the evidence other calls added to it, oldest first."""
    ids = json.dumps(sorted(row["id"] for row in rows))
    found: dict[str, list[Row]] = {}
    for evidence in store.db.query(
        "SELECT e.*, coalesce(c.recorded_at, c.processed_at) AS call_at FROM opportunity_evidence e"
        " JOIN opportunities o ON o.id = e.opportunity_id JOIN calls c ON c.id = e.call_id"
        " WHERE e.opportunity_id IN (SELECT value FROM json_each(?)) AND e.call_id != o.call_id"
        " ORDER BY e.added_at, e.id",
        [ids],
    ):
        found.setdefault(evidence["opportunity_id"], []).append(evidence)
    return found


def export_fields(store: Store) -> list[str]:
    """Every opportunity column, ``opportunity_type``, then the call's fields it lacks."""
    columns = [column.name for column in store.db["opportunities"].columns]
    return columns + list(DERIVED_FIELDS) + [name for name in CALL_FIELDS if name not in columns]


def write_tables(tables: list[crm.Table], output: Path) -> int:
    """Write each table beside ``output`` (CSV); return the main table's row count."""
    for table in tables:
        path = crm.companion_path(output, table.suffix)
        write_atomically(path, lambda handle, t=table: write_crm_csv(t.rows, t.columns, handle), newline="")
    return len(tables[0].rows) if tables else 0


def write_atomically(output: Path, write: Callable[[IO[str]], int], *, newline: str | None = None) -> int:
    """Write to a temporary file beside ``output`` and move it into place only when complete."""
    output.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline=newline) as handle:
            count = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


@formatter("jsonl", suffix=".jsonl", other_suffixes=(".ndjson",))
def write_jsonl(rows: Iterable[Row], fieldnames: list[str], handle: IO[str]) -> int:
    count = 0
    for row in rows:
        handle.write(json.dumps({key: row.get(key) for key in fieldnames}, ensure_ascii=False) + "\n")
        count += 1
    return count


@formatter("csv", suffix=".csv", newline="")
def write_csv(rows: Iterable[Row], fieldnames: list[str], handle: IO[str]) -> int:
    writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({key: spreadsheet_safe(row.get(key)) for key in fieldnames})
        count += 1
    return count


def write_crm_csv(rows: Iterable[Row], fieldnames: list[str], handle: IO[str]) -> int:
    """UTF-8, header row, comma, quoted only as needed, LF line ends (Bulk API 2.0's default)."""
    writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({key: spreadsheet_safe(row.get(key)) for key in fieldnames})
        count += 1
    return count


crm_formatter("salesforce", crm.salesforce_tables)
crm_formatter("hubspot", crm.hubspot_tables)


def spreadsheet_safe(value: Any) -> Any:
    """Prefix text a spreadsheet would run as a formula with ``'`` (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
