"""Plain-text view of one stored call for ``callscout show``.

Products the customer asked for (trigger ``requested``) are the call's own subject: they are
listed under "requested by the customer", apart from the cross-sell opportunities.
"""

from __future__ import annotations

from pathlib import Path

from callscout.inputs.roles import roles_lines
from callscout.match.opportunities import REQUESTED
from callscout.store.history import HELD, Row, Timeline


def render_call(detail: dict) -> str:
    call = detail["call"]
    lines = [
        f"call {call['id']}  {call['source_path']}",
        f"status {call['status']}  language {call.get('language') or '?'}  "
        f"duration {_seconds(call.get('duration_s'))}  customer {call.get('customer_id') or '-'}",
    ]
    lines.extend(roles_lines(call))
    catalogues = detail.get("catalogues") or []
    several = len(catalogues) > 1
    if catalogues:
        lines.append(f"catalogue{'s' if several else ''} {', '.join(name or '-' for name in catalogues)}")
    if call.get("error"):
        lines.append(f"error: {call['error']}")
    lines.append("")
    for segment in detail["segments"]:
        when = f"[{_clock(segment['start_s'])}]" if segment["start_s"] is not None else ""
        lines.append(f"{when:>10} {segment['speaker']:>8}: {segment['text']}")
        for signal in _signals_in(segment, detail["signals"]):
            lines.append(f"{'':>20}^ {signal['kind']}: {signal['label']}")
    lines.append("")
    lines.append("signals:")
    for s in detail["signals"]:
        where = f"  ({s.get('catalogue') or '-'})" if several else ""
        lines.append(f"  {s['kind']:<12} {s['label']:<22} {s['confidence']:.2f}  \"{s['evidence']}\"{where}")
    requested = [o for o in detail["opportunities"] if o.get("trigger_kind") == REQUESTED]
    requested_again = [o for o in detail.get("appended", []) if o.get("trigger_kind") == REQUESTED]
    if requested or requested_again:
        lines.append("requested by the customer:")
        lines.extend(_opportunity_lines(requested, requested_again, several))
    lines.append("opportunities:")
    lines.extend(
        _opportunity_lines(
            [o for o in detail["opportunities"] if o.get("trigger_kind") != REQUESTED],
            [o for o in detail.get("appended", []) if o.get("trigger_kind") != REQUESTED],
            several,
        )
    )
    return "\n".join(lines)


def _opportunity_lines(opportunities: list[dict], appended: list[dict], several: bool) -> list[str]:
    lines = []
    for o in opportunities:
        flag = "  (sensitive call)" if o.get("sensitive_call") else ""
        flag += f"  ({o.get('catalogue') or '-'})" if several else ""
        status = o.get("status") or "open"
        lines.append(
            f"  {o['product_name']} [{o['trigger_kind']}: {o['trigger_label']}] score {o['score']:.2f}  {status}{flag}"
        )
        if o.get("held_reason"):
            lines.append(f"      held: {o['held_reason']}")
        lines.append(f"      evidence: \"{o['evidence']}\" at {_clock(o['start_s'])}")
        lines.append(f"      pitch ({o.get('pitch_id') or 'default'}): {o['pitch']}")
    for o in appended:
        lines.append(
            f"  {o['product_name']} [{o['trigger_kind']}: {o['trigger_label']}] again: evidence added to "
            f"opportunity {o['id']} of call {o['call_id']} ({o['status']})"
        )
    return lines


def _signals_in(segment: dict, signals: list[dict]) -> list[dict]:
    """The signals found in this segment, each kind and label once (catalogues share life events)."""
    found = {
        (s["kind"], s["label"]): s
        for s in signals
        if s["start_s"] == segment["start_s"] and s["speaker"] == segment["speaker"] and s["evidence"] in segment["text"]
    }
    return list(found.values())


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render_timeline(timeline: Timeline) -> str:
    """``callscout customer``'s text: the calls in time order, then every opportunity once."""
    statuses = ", ".join(f"{n} {s}" for s, n in _count_by(timeline.opportunities, "status").items())
    lines = [f"customer {timeline.customer_id}: {len(timeline.calls)} calls, {len(timeline.opportunities)} opportunities"
             + (f" ({statuses})" if statuses else "")]
    for call in timeline.calls:
        lines.append("")
        lines.append(f"{(call.at or '?')[:16]}  call {call.id}  {Path(call.source_path).name}  ({call.catalogue or '-'})")
        lines.extend(f"    life event {e['label']}: \"{e['evidence'] or ''}\"" for e in call.life_events)
        lines.extend(f"    declined {d['label']}: \"{d['evidence'] or ''}\"" for d in call.declined)
        lines.extend(_render_triggered(o) for o in call.opportunities)
    lines.append("")
    lines.append("opportunities:")
    lines.extend(_render_opportunity(o) for o in timeline.opportunities)
    return "\n".join(lines)


def _count_by(rows: list[Row], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return counts


def _render_triggered(row: Row) -> str:
    mark = "+" if row["first"] else "~"
    what = "new" if row["first"] else "again, evidence added"
    held = f" — {row['held_reason']}" if row["status"] == HELD and row["first"] else ""
    return (
        f"    {mark} {row['product_name'] or row['product_id']} [{row['trigger_kind']}: {row['trigger_label']}]"
        f" {what}, {row['status']}{held}  ({row['opportunity_id']})"
    )


def _render_opportunity(row: Row) -> str:
    parts = [f"  {row['id']}  {row['product_name'] or row['product_id']}  {row['status']}"]
    if row["held_reason"]:
        parts.append(f"({row['held_reason']})")
    parts.append(f"pitch {row['pitch_id'] or '-'}, {row['calls']} call{'s' if row['calls'] != 1 else ''}")
    if row["amount"] is not None or row["closed_at"]:
        parts.append(f"amount {row['amount'] if row['amount'] is not None else '-'}, closed {row['closed_at'] or '-'}")
    return "  ".join(parts)
