"""A call's records as the store's rows, with their stable ids.

Ids come from content: a call's from its audio's sha256, an opportunity's from its call,
catalogue and product, so saving the same call again writes the same rows, and the same call
saved against two catalogues keeps two sets of rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from callscout.match.opportunities import choose_pitch
from callscout.records import CallRecord, CallResult, Opportunity, Segment, Signal
from callscout.store.history import Placement

DONE = "done"
FAILED = "failed"
PROCESSING = "processing"
CALL_STATUSES = (DONE, FAILED, PROCESSING)
OPEN = "open"

EVIDENCE_FIELDS = ("trigger_kind", "trigger_label", "evidence", "speaker", "start_s", "end_s", "score")
# What an opportunity keeps when its call is saved again (CRM outcomes, the policy's decision,
# the pitch variant it was offered with), and its id: a store made before ids named the catalogue
# keeps its ids (``opportunity_id_for``).
KEPT_FIELDS = ("id", "created_at", "status", "held_reason", "amount", "closed_at", "pitch_id", "pitch")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def call_id_for(sha256: str) -> str:
    """A call's id: the first 16 hex characters of its audio's sha256."""
    return sha256.lower()[:16]


def opportunity_id_for(call_id: str, product_id: str, catalogue: str | None) -> str:
    """The id names the catalogue ('' for none). Stores made before results were kept per
    catalogue have ids of "call:product"; their rows keep them when the call is saved again
    (``KEPT_FIELDS``), and no new id can take one of them."""
    return _short_hash(f"{call_id}:{catalogue or ''}:{product_id}")


def evidence_id_for(opportunity_id: str, call_id: str) -> str:
    return _short_hash(f"{opportunity_id}:{call_id}")


def signal_id_for(call_id: str, signal: Signal, catalogue: str | None) -> str:
    key = [call_id, signal.kind, signal.label, signal.segment_idx, signal.evidence, catalogue or ""]
    return _short_hash(json.dumps(key, ensure_ascii=False))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def call_row(record: CallRecord, **overrides: Any) -> dict[str, Any]:
    row = asdict(record)
    row.update(overrides)
    row["sensitive"] = int(bool(row["sensitive"]))
    return row


def done_call_row(record: CallRecord, result: CallResult, now: str) -> dict[str, Any]:
    transcript = result.transcript
    return call_row(
        record,
        status=DONE,
        error=None,
        processed_at=record.processed_at or now,
        language=record.language or transcript.language,
        language_probability=_first_set(record.language_probability, transcript.language_probability),
        duration_s=_first_set(record.duration_s, transcript.duration_s),
        sensitive=record.sensitive or any(signal.kind == "sensitive" for signal in result.signals),
        role_source=record.role_source or transcript.role_source,
        role_confidence=_first_set(record.role_confidence, transcript.role_confidence),
    )


def _first_set(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def segment_row(call_id: str, idx: int, segment: Segment) -> dict[str, Any]:
    return {
        "id": f"{call_id}:{idx}",
        "call_id": call_id,
        "idx": idx,
        "speaker": segment.speaker,
        "speaker_label": segment.label,
        "start_s": segment.start,
        "end_s": segment.end,
        "text": segment.text,
    }


def signal_row(call_id: str, signal: Signal, catalogue: str | None) -> dict[str, Any]:
    row = asdict(signal)
    row.update(
        id=signal_id_for(call_id, signal, catalogue),
        call_id=call_id,
        catalogue=catalogue,
        start_s=row.pop("start"),
        end_s=row.pop("end"),
    )
    return row


def opportunity_row(call: dict[str, Any], opportunity: Opportunity, now: str) -> dict[str, Any]:
    row = asdict(opportunity)
    del row["pitches"]
    opportunity_id = opportunity_id_for(call["id"], opportunity.product_id, call["catalogue"])
    pitch = choose_pitch(opportunity_id, opportunity)
    row.update(
        id=opportunity_id,
        call_id=call["id"],
        customer_id=call["customer_id"],
        catalogue=call["catalogue"],
        start_s=row.pop("start"),
        end_s=row.pop("end"),
        sensitive_call=int(opportunity.sensitive_call or call["sensitive"]),
        pitch=pitch.text,
        pitch_id=pitch.id,
        status=OPEN,
        held_reason=None,
        amount=None,
        closed_at=None,
        created_at=now,
        updated_at=now,
    )
    return row


def placed_row(row: dict[str, Any], placement: Placement) -> dict[str, Any]:
    if placement.kept is not None:
        return {**row, **{key: placement.kept[key] for key in KEPT_FIELDS}}
    return {**row, "status": placement.status, "held_reason": placement.held_reason}


def evidence_row(opportunity_id: str, call_id: str, source: dict[str, Any], added_at: str) -> dict[str, Any]:
    return {
        "id": evidence_id_for(opportunity_id, call_id),
        "opportunity_id": opportunity_id,
        "call_id": call_id,
        "catalogue": source["catalogue"],
        **{key: source[key] for key in EVIDENCE_FIELDS},
        "added_at": added_at,
    }


def unique_by_id(rows: list[dict[str, Any]], prefer: Callable[[dict], Any] | None = None) -> list[dict]:
    """Drop rows whose id repeats; keep the first, or the one ``prefer`` ranks highest."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = chosen.get(row["id"])
        if current is None or (prefer is not None and prefer(row) > prefer(current)):
            chosen[row["id"]] = row
    return list(chosen.values())


def score_of(row: dict[str, Any]) -> float:
    return row["score"] if row["score"] is not None else float("-inf")
