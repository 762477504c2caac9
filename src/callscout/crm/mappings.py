"""CRM import files: Salesforce (Opportunity + Task CSVs) and HubSpot (deals + notes CSVs).

Pure functions from opportunity rows (as ``export`` reads them, plus ``call_duration_s``
and ``call_signals``) to ``Table`` objects; ``export`` writes them. Column headers and a
few constant values come from a ``Mapping``: the defaults below, overridden by a YAML
or TOML mapping file::

    salesforce:
      opportunity: {external_id: Callscout_Id__c, account: AccountId, lead_source: null, owner: Owner.Username}
      task: {status: Status}
      values: {stage: Qualification, close_days: 45}
    hubspot:
      deal: {external_id: callscout_id}
      values: {pipeline: default, stage: appointmentscheduled}
    amounts: {hausrat: 180}          # product id -> deal amount
    outcomes:                        # reading the CRM's export back (``outcomes``)
      columns: {opportunity_id: Deal ID, status: Deal Stage, closed_at: Close Date}
      statuses: {Verloren: lost}     # CRM stage -> won, lost or open

A column mapped to ``null`` or ``""`` is left out (for ``outcomes.columns``: recognised by
its usual names). Keys may be written ``external_id`` or ``External ID``.

``type`` says whether the customer asked for the product (``values.type_request``, default
"Customer request") or it is a find to offer (``values.type_cross_sell``, "Cross-sell"). For
Salesforce it is the standard Opportunity ``Type`` picklist; for HubSpot a column "Opportunity
type" (a custom deal property, like ``callscout_id``): HubSpot's own "Deal Type" offers only
``newbusiness`` and ``existingbusiness`` until an admin adds options; to use it, map
``hubspot.deal.type`` to "Deal Type" and set both values to options it has.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from callscout.match.opportunities import REQUEST, opportunity_type

Row = dict[str, Any]

SALESFORCE = "salesforce"
HUBSPOT = "hubspot"
SALESFORCE_NAME_LIMIT = 120  # Opportunity.Name
SUBJECT_LIMIT = 255  # Task.Subject

DEFAULTS: dict[str, Any] = {
    SALESFORCE: {
        "opportunity": {
            "external_id": "Callscout_Id__c",
            "name": "Name",
            "stage": "StageName",
            "close_date": "CloseDate",
            "account": "Account.Customer_Id__c",
            "amount": "Amount",
            "description": "Description",
            "lead_source": "LeadSource",
            "type": "Type",  # customer request or cross-sell (values type_request, type_cross_sell)
            "owner": "OwnerId",  # the call's account manager: a Salesforce user id, or map to Owner.Username
        },
        "task": {
            "opportunity": None,  # None: "Opportunity:What.<external_id column>"
            "subject": "Subject",
            "description": "Description",
            "activity_date": "ActivityDate",
            "status": "Status",
        },
        "values": {
            "stage": "Prospecting",
            "lead_source": "Phone Inquiry",
            "close_days": 30,
            "task_days": 7,
            "task_status": "Not Started",
            "type_request": "Customer request",
            "type_cross_sell": "Cross-sell",
        },
    },
    HUBSPOT: {
        "deal": {
            "external_id": "callscout_id",
            "name": "Deal name",
            "pipeline": "Pipeline",
            "stage": "Deal stage",
            "amount": "Amount",
            "close_date": "Close date",
            "description": "Deal description",
            "customer": "Customer ID",
            "type": "Opportunity type",  # customer request or cross-sell (values type_request, type_cross_sell)
            "owner": "Deal owner",  # the call's account manager: a HubSpot user's e-mail address
        },
        "note": {
            "deal": None,  # None: the deal's external_id column
            "activity_date": "Activity date",
            "body": "Note body",
        },
        "values": {
            "pipeline": "default",
            "stage": "appointmentscheduled",
            "close_days": 30,
            "type_request": "Customer request",
            "type_cross_sell": "Cross-sell",
        },
    },
    "amounts": {},
    "outcomes": {
        # None: found by its usual names (outcomes.COLUMN_NAMES)
        "columns": {"opportunity_id": None, "status": None, "amount": None, "closed_at": None},
        "statuses": {},  # CRM stage or status -> won, lost or open
    },
}
OUTCOME_STATUSES = ("won", "lost", "open")

DERIVED_COLUMNS = {
    (SALESFORCE, "task", "opportunity"): lambda external_id: f"Opportunity:What.{external_id}",
    (HUBSPOT, "note", "deal"): lambda external_id: external_id,
}
EXTERNAL_ID_TABLE = {SALESFORCE: "opportunity", HUBSPOT: "deal"}


class MappingError(ValueError):
    """A mapping file that cannot be used; the message is one line naming file and key."""


@dataclass(frozen=True)
class Table:
    """One CSV file: ``suffix`` "" is the output itself, else ``<output stem><suffix>``."""

    suffix: str
    columns: list[str]
    rows: list[Row]


@dataclass(frozen=True)
class Mapping:
    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))

    def columns(self, target: str, table: str) -> dict[str, str]:
        """Field -> column header, in order, without the columns left out."""
        headers = dict(self.data[target][table])
        external_id = self.data[target][EXTERNAL_ID_TABLE[target]]["external_id"]
        for (t, tab, key), derive in DERIVED_COLUMNS.items():
            if (t, tab) == (target, table) and headers.get(key) is None and external_id:
                headers[key] = derive(external_id)
        return {key: header for key, header in headers.items() if header}

    def value(self, target: str, key: str) -> Any:
        return self.data[target]["values"][key]

    def amount(self, product_id: str) -> float | str:
        return self.data["amounts"].get(product_id, "")

    def outcome_columns(self) -> dict[str, str | None]:
        """Outcome field -> the CRM export's column header (None: recognise it by name)."""
        return dict(self.data["outcomes"]["columns"])

    def outcome_statuses(self) -> dict[str, str]:
        """CRM stage -> won, lost or open: the mapping's ``outcomes.statuses``, and the stages
        the exports write for new opportunities (still open)."""
        statuses = {self.value(target, "stage"): "open" for target in (SALESFORCE, HUBSPOT)}
        statuses.update(self.data["outcomes"]["statuses"])
        return statuses

    def external_id_columns(self) -> list[str]:
        """The external-id column of each CRM target (an outcomes file may use either)."""
        return [self.data[target][EXTERNAL_ID_TABLE[target]]["external_id"] for target in (SALESFORCE, HUBSPOT)]


def companion_path(output: Path, suffix: str) -> Path:
    return output if not suffix else output.with_name(output.stem + suffix)


# mapping files


def load_mapping(path: Path | None) -> Mapping:
    """The default mapping, overridden by a YAML (``.yaml``/``.yml``) or TOML file."""
    if path is None:
        return Mapping()
    data = copy.deepcopy(DEFAULTS)
    _merge(data, _read_mapping(Path(path)), Path(path).name, [])
    return Mapping(data)


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            loaded = tomllib.loads(text)
        else:
            from callscout import yamlfile
            loaded = yamlfile.safe_load(text) or {}
    except OSError as exc:
        raise MappingError(f"{path.name}: cannot read mapping ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - YAML, TOML and Unicode errors alike
        raise MappingError(f"{path.name}: not a valid mapping file: {' '.join(str(exc).split())}") from None
    if not isinstance(loaded, dict):
        raise MappingError(f"{path.name}: expected a table with salesforce, hubspot or amounts")
    return loaded


def normalise_key(key: Any) -> str:
    return "_".join(str(key).strip().lower().replace("-", " ").split())


def _merge(into: dict[str, Any], given: dict[str, Any], name: str, where: list[str]) -> None:
    for raw_key, value in given.items():
        key = normalise_key(raw_key)
        place = ".".join([*where, key])
        if where == ["amounts"]:
            into[str(raw_key)] = _amount(value, name, place)
        elif where == ["outcomes", "statuses"]:
            into[str(raw_key)] = _outcome_status(value, name, place)
        elif key not in into:
            known = ", ".join(sorted(into))
            raise MappingError(f"{name}: unknown key '{place}' (known here: {known})")
        elif isinstance(into[key], dict):
            if not isinstance(value, dict):
                raise MappingError(f"{name}: '{place}' must be a table")
            _merge(into[key], value, name, [*where, key])
        else:
            into[key] = _setting(into[key], value, name, place, is_column=where[-1:] != ["values"])


def _setting(default: Any, value: Any, name: str, place: str, *, is_column: bool) -> Any:
    if is_column:
        if value is not None and not isinstance(value, str):
            raise MappingError(f"{name}: column '{place}' must be a name, \"\" or null")
        return value or None
    if isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
        raise MappingError(f"{name}: '{place}' must be a whole number of days")
    if isinstance(default, str) and not isinstance(value, str):
        raise MappingError(f"{name}: '{place}' must be text")
    return value


def _outcome_status(value: Any, name: str, place: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in OUTCOME_STATUSES:
        raise MappingError(f"{name}: '{place}' must be one of {', '.join(OUTCOME_STATUSES)}")
    return value.strip().lower()


def _amount(value: Any, name: str, place: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MappingError(f"{name}: '{place}' must be a number")
    return value


# shared text


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"[{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}]"


def day_of(timestamp: str | None) -> date | None:
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp).date()
    except ValueError:
        return None


def days_after(timestamp: str | None, days: int) -> str:
    day = day_of(timestamp)
    return (day + timedelta(days=days)).isoformat() if day else ""


def trigger_text(row: Row) -> str:
    kind = (row.get("trigger_kind") or "").replace("_", " ")
    return f"{kind} '{row.get('trigger_label') or ''}'".strip()


def evidence_text(row: Row) -> str:
    where = " ".join(part for part in (clock(row.get("start_s")), row.get("speaker") or "") if part)
    return f"{where}: \"{row.get('evidence') or ''}\"" if where else f"\"{row.get('evidence') or ''}\""


def opportunity_description(row: Row) -> str:
    lines = [
        f"Trigger: {trigger_text(row)}" + (f" (score {row['score']:.2f})" if row.get("score") is not None else ""),
        f"Evidence {evidence_text(row)}",
        *later_lines(row),
        f"Pitch: {row.get('pitch') or ''}",
        call_line(row),
    ]
    return "\n".join(lines)


def later_lines(row: Row) -> list[str]:
    """One line per later call of the customer that triggered the same opportunity again."""
    lines = []
    for evidence in row.get("later_evidence") or []:
        day = day_of(evidence.get("call_at"))
        lines.append(f"Again{f' on {day.isoformat()}' if day else ''} ({trigger_text(evidence)}): {evidence_text(evidence)}")
    return lines


def call_line(row: Row) -> str:
    parts = [Path(row.get("source_path") or "").name or row.get("call_id") or ""]
    if row.get("recorded_at"):
        parts.append(f"recorded {row['recorded_at']}")
    if row.get("call_duration_s"):
        parts.append(f"{row['call_duration_s'] / 60:.1f} min")
    if row.get("language"):
        parts.append(f"language {row['language']}")
    if row.get("account_manager"):
        parts.append(f"account manager {row['account_manager']}")
    return "Call: " + ", ".join(parts)


def call_summary(row: Row) -> str:
    """A short summary of the call an opportunity came from (CRM task or note body)."""
    heard: dict[str, list[str]] = {}
    for signal in row.get("call_signals") or []:
        labels = heard.setdefault(signal["kind"].replace("_", " "), [])
        if signal["label"] not in labels:
            labels.append(signal["label"])
    lines = [call_line(row)]
    if heard:
        lines.append("Customer mentioned: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in heard.items()))
    lines.append(f"Opportunity: {row.get('product_name') or row.get('product_id')} ({trigger_text(row)})")
    lines.append(f"Evidence {evidence_text(row)}")
    lines.extend(later_lines(row))
    lines.append(f"Pitch: {row.get('pitch') or ''}")
    return "\n".join(lines)


def deal_name(row: Row, limit: int | None = None) -> str:
    product = row.get("product_name") or row.get("product_id") or ""
    who = row.get("customer_id") or f"call {row.get('call_id')}"
    name = f"{product} – {who}"
    return name if limit is None or len(name) <= limit else name[: limit - 1] + "…"


def opportunity_type_value(row: Row, mapping: Mapping, target: str) -> str:
    """The mapping's value for a customer request or a cross-sell find (``match.opportunity_type``)."""
    request = opportunity_type(row.get("trigger_kind")) == REQUEST
    return mapping.value(target, "type_request" if request else "type_cross_sell")


def shaped(values: Row, columns: dict[str, str]) -> Row:
    return {header: values.get(key, "") for key, header in columns.items()}


# Salesforce


def salesforce_tables(rows: list[Row], mapping: Mapping) -> list[Table]:
    """Opportunity upsert CSV (keyed by the external id) and a Task CSV beside it."""
    opportunity = mapping.columns(SALESFORCE, "opportunity")
    task = mapping.columns(SALESFORCE, "task")
    return [
        Table("", list(opportunity.values()), [shaped(_sf_opportunity(r, mapping), opportunity) for r in rows]),
        Table("_tasks.csv", list(task.values()), [shaped(_sf_task(r, mapping), task) for r in rows]),
    ]


def _sf_opportunity(row: Row, mapping: Mapping) -> Row:
    value = lambda key: mapping.value(SALESFORCE, key)  # noqa: E731
    return {
        "external_id": row["id"],
        "name": deal_name(row, SALESFORCE_NAME_LIMIT),
        "stage": value("stage"),
        "close_date": days_after(row.get("created_at"), value("close_days")),
        "account": row.get("customer_id") or "",
        "amount": mapping.amount(row.get("product_id") or ""),
        "description": opportunity_description(row),
        "lead_source": value("lead_source"),
        "type": opportunity_type_value(row, mapping, SALESFORCE),
        "owner": row.get("account_manager") or "",
    }


def _sf_task(row: Row, mapping: Mapping) -> Row:
    subject = f"Follow up: {row.get('product_name') or row.get('product_id')}"
    return {
        "opportunity": row["id"],
        "subject": subject[:SUBJECT_LIMIT],
        "description": call_summary(row),
        "activity_date": days_after(row.get("created_at"), mapping.value(SALESFORCE, "task_days")),
        "status": mapping.value(SALESFORCE, "task_status"),
    }


# HubSpot


def hubspot_tables(rows: list[Row], mapping: Mapping) -> list[Table]:
    """Deals import CSV (unique ``callscout_id``) and a notes CSV associated by that id."""
    deal = mapping.columns(HUBSPOT, "deal")
    note = mapping.columns(HUBSPOT, "note")
    return [
        Table("", list(deal.values()), [shaped(_hs_deal(r, mapping), deal) for r in rows]),
        Table("_notes.csv", list(note.values()), [shaped(_hs_note(r), note) for r in rows]),
    ]


def _hs_deal(row: Row, mapping: Mapping) -> Row:
    return {
        "external_id": row["id"],
        "name": deal_name(row),
        "pipeline": mapping.value(HUBSPOT, "pipeline"),
        "stage": mapping.value(HUBSPOT, "stage"),
        "amount": mapping.amount(row.get("product_id") or ""),
        "close_date": days_after(row.get("created_at"), mapping.value(HUBSPOT, "close_days")),
        "description": opportunity_description(row),
        "customer": row.get("customer_id") or "",
        "type": opportunity_type_value(row, mapping, HUBSPOT),
        "owner": row.get("account_manager") or "",
    }


def _hs_note(row: Row) -> Row:
    day = day_of(row.get("recorded_at")) or day_of(row.get("created_at"))
    return {"deal": row["id"], "activity_date": day.isoformat() if day else "", "body": call_summary(row)}
