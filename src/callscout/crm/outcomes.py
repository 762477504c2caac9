"""CRM outcomes: read back what became of the exported opportunities (won, lost, still open).

``import_outcomes(store, path, mapping)`` reads a CSV the CRM exported: one row per
opportunity with its id (callscout's opportunity id, which the exports wrote as the
external id), a status, and optionally an amount and a closed date. Column headers are
recognised by their usual names (``COLUMN_NAMES``, Salesforce and HubSpot export names
included) or named in the mapping file's ``outcomes.columns``; statuses may be spelled
``won``/``lost``/``open``, ``Closed Won``/``Closed Lost`` (Salesforce), ``closedwon``/
``closedlost`` (HubSpot), the stages the exports write for new opportunities, or any
stage the mapping's ``outcomes.statuses`` names (all case-insensitive).

Each good row that differs from the opportunity's latest outcome adds an ``outcomes`` row
(the audit trail) and copies status, amount and closed date onto the opportunity; a row
equal to it changes nothing, so importing the same file twice is harmless. When a file
names an opportunity twice, its last row counts. A bad row (unknown id, unknown status, a
bad amount or date) is reported with the file and row number and skipped; ids are never
invented.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callscout.crm.mappings import Mapping, normalise_key
from callscout.store.database import Store

log = logging.getLogger("callscout")

FIELDS = ("opportunity_id", "status", "amount", "closed_at")
REQUIRED = ("opportunity_id", "status")
# Usual header names per field, as normalise_key writes them.
COLUMN_NAMES = {
    "opportunity_id": ("opportunity_id", "callscout_id", "callscout_id__c", "external_id", "id"),
    "status": ("status", "stage", "stagename", "stage_name", "deal_stage", "dealstage"),
    "amount": ("amount", "deal_amount"),
    "closed_at": ("closed_at", "closed_date", "close_date", "closedate", "date_closed", "closed"),
}
STATUS_SPELLINGS = {
    "won": "won", "closedwon": "won", "closed_won": "won",
    "lost": "lost", "closedlost": "lost", "closed_lost": "lost",
    "open": "open",
}  # fmt: skip
DATE_FORMATS = ("%d.%m.%Y", "%Y/%m/%d")  # besides ISO 8601
CURRENCY = re.compile(r"^(?:[A-Z]{3}|[€$£])\s*|\s*(?:[A-Z]{3}|[€$£])$")
# Amounts have at most two decimals: one separator kind followed by groups of three digits
# separates thousands ("1,500", "1.200" are 1500 and 1200).
THOUSANDS = re.compile(r"^\d{1,3}([.,])\d{3}(\1\d{3})*$")


class OutcomesError(ValueError):
    """A file that cannot be imported at all (unreadable, no id or status column)."""


@dataclass(frozen=True)
class Outcome:
    opportunity_id: str
    status: str  # won, lost or open
    amount: float | None
    closed_at: str | None  # YYYY-MM-DD
    row: int  # spreadsheet row number (the header is row 1)


@dataclass
class ImportResult:
    source: str  # the file name, as outcomes.source records it
    rows: int = 0  # data rows read
    recorded: int = 0  # outcomes that changed an opportunity (new audit rows)
    unchanged: int = 0  # good rows equal to the latest outcome already recorded
    problems: list[str] = field(default_factory=list)  # "FILE: row N: why", one per skipped row

    @property
    def imported(self) -> int:
        """Good rows: recorded now or already recorded before."""
        return self.recorded + self.unchanged


def import_outcomes(store: Store, path: Path, mapping: Mapping | None = None) -> ImportResult:
    """Record the outcomes in a CRM export file; bad rows are reported in ``problems``."""
    path = Path(path)
    result = ImportResult(source=path.name)
    outcomes = read_outcomes(path, mapping or Mapping(), result)
    with store.write_transaction():
        known = _known_ids(store, [o.opportunity_id for o in outcomes])
        for outcome in outcomes:
            if outcome.opportunity_id not in known:
                result.problems.append(f"{path.name}: row {outcome.row}: unknown opportunity id '{outcome.opportunity_id}'")
            elif _record(store, outcome, result.source):
                result.recorded += 1
            else:
                result.unchanged += 1
    result.problems.sort(key=_row_number)
    log.info("%s: %d outcomes recorded, %d unchanged, %d rows skipped", path.name, result.recorded,
             result.unchanged, len(result.problems))
    return result


def _row_number(problem: str) -> int:
    found = re.search(r": row (\d+):", problem)
    return int(found.group(1)) if found else 0


def read_outcomes(path: Path, mapping: Mapping, result: ImportResult) -> list[Outcome]:
    """Parse the file; the last good row per opportunity id, problems added to ``result``."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text), dialect=_dialect(text))
    header = next(reader, None)
    if not header:
        raise OutcomesError(f"{path.name}: empty file, expected a header row")
    columns = _columns(header, mapping, path.name)
    statuses = {_status_key(k): v for k, v in mapping.outcome_statuses().items()}
    chosen: dict[str, Outcome] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        result.rows += 1
        try:
            outcome = _outcome(cells, columns, statuses, number)
        except ValueError as exc:
            result.problems.append(f"{path.name}: row {number}: {exc}")
            continue
        chosen.pop(outcome.opportunity_id, None)
        chosen[outcome.opportunity_id] = outcome
    return sorted(chosen.values(), key=lambda o: o.row)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise OutcomesError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise OutcomesError(f"{path.name}: not UTF-8 text (byte {exc.start})") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma, semicolon (spreadsheets in German locales) or tab, from the header line."""
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _columns(header: list[str], mapping: Mapping, name: str) -> dict[str, int]:
    """Field -> column index."""
    position = {normalise_key(cell): index for index, cell in reversed(list(enumerate(header)))}
    external = tuple(normalise_key(column) for column in mapping.external_id_columns() if column)
    columns = {}
    for field_name, given in mapping.outcome_columns().items():
        candidates = (normalise_key(given),) if given else _names(field_name, external)
        found = next((position[c] for c in candidates if c in position), None)
        if found is None and (given or field_name in REQUIRED):
            wanted = f"'{given}'" if given else " or ".join(f"'{c}'" for c in candidates[:4])
            raise OutcomesError(f"{name}: no {field_name} column (looked for {wanted})")
        if found is not None:
            columns[field_name] = found
    return columns


def _names(field_name: str, external: tuple[str, ...]) -> tuple[str, ...]:
    if field_name == "opportunity_id":
        return tuple(dict.fromkeys((*COLUMN_NAMES[field_name][:2], *external, *COLUMN_NAMES[field_name][2:])))
    return COLUMN_NAMES[field_name]


def _outcome(cells: list[str], columns: dict[str, int], statuses: dict[str, str], number: int) -> Outcome:
    def cell(field_name: str) -> str:
        index = columns.get(field_name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    opportunity_id = cell("opportunity_id").lstrip("'")  # the exports prefix formula-like cells with '
    if not opportunity_id:
        raise ValueError("no opportunity id")
    return Outcome(opportunity_id, parse_status(cell("status"), statuses), parse_amount(cell("amount")),
                   parse_day(cell("closed_at")), number)


def _status_key(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def parse_status(text: str, extra: dict[str, str] | None = None) -> str:
    """``won``, ``lost`` or ``open`` from a CRM status or stage (case-insensitive)."""
    key = _status_key(text)
    known = {**STATUS_SPELLINGS, **(extra or {})}
    if key not in known:
        raise ValueError(f"unknown status '{text}' (expected won, lost, open, Closed Won, Closed Lost, closedwon, closedlost)")
    return known[key]


def parse_amount(text: str) -> float | None:
    """A non-negative amount: ``1234.5``, ``1,234.50``, ``1.234,50``, ``1.200``, ``EUR 99``; empty: None."""
    if not text:
        return None
    number = CURRENCY.sub("", text.strip()).replace(" ", "").replace("\u00a0", "")
    if "," in number and "." in number:
        decimal = "," if number.rfind(",") > number.rfind(".") else "."
        number = number.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    elif THOUSANDS.match(number):
        number = number.replace(",", "").replace(".", "")
    else:
        number = number.replace(",", ".")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"bad amount '{text}'") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"bad amount '{text}' (must be a number >= 0)")
    return value


def parse_day(text: str) -> str | None:
    """``YYYY-MM-DD`` from an ISO 8601 date or time, ``DD.MM.YYYY`` or ``YYYY/MM/DD``; empty: None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        pass
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise ValueError(f"bad closed date '{text}' (expected YYYY-MM-DD)")


def _known_ids(store: Store, ids: list[str]) -> set[str]:
    found = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update(row[0] for row in store.db.execute(f"SELECT id FROM opportunities WHERE id IN ({marks})", chunk))
    return found


def _record(store: Store, outcome: Outcome, source: str) -> bool:
    """Add the outcome unless it equals the latest one; True when it changed something."""
    latest = store.db.execute(
        "SELECT status, amount, closed_at FROM outcomes WHERE opportunity_id = ? ORDER BY imported_at DESC, id DESC LIMIT 1",
        [outcome.opportunity_id],
    ).fetchone()
    if latest is not None and tuple(latest) == (outcome.status, outcome.amount, outcome.closed_at):
        return False
    now = store.now()
    store.db.execute(
        "INSERT INTO outcomes (opportunity_id, status, amount, closed_at, source, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
        [outcome.opportunity_id, outcome.status, outcome.amount, outcome.closed_at, source, now],
    )
    store.db.execute(
        "UPDATE opportunities SET status = ?, amount = ?, closed_at = ?, held_reason = NULL, updated_at = ? WHERE id = ?",
        [outcome.status, outcome.amount, outcome.closed_at, now, outcome.opportunity_id],
    )
    return True
