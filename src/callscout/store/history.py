"""Customer memory: calls of the same customer form a timeline, and a contact policy spans them.

When a call is saved, each product it triggers is *placed* (``place``):

1. A product this call already placed before (the call is saved again) keeps its place: its
   own opportunity with its status, or the evidence it added to another call's opportunity.
   Re-processing a call therefore changes nothing.
2. Without a customer id there is no memory: a new ``open`` opportunity.
3. An ``open`` opportunity of the customer (same catalogue, same product) from another call
   gets this call's evidence appended instead of a duplicate.
4. Otherwise a new opportunity, ``held`` (kept back, with the reason in ``held_reason``) when
   the customer declined the product in an earlier call within ``decline_cooldown_days``, or
   in any later call, the CRM closed it (won or lost) within that time, or the customer
   already has ``max_open_per_customer`` open opportunities; else ``open``.

A call in which the customer declines a product also holds the customer's ``open``
opportunity for it from an earlier call (``held_by_decline``): the "no" is the latest word.
Either order of processing the two calls gives the same store.

The policy and the history are plain data (``load_history`` reads them from the store's
database inside the store's transaction); ``customer_timeline`` reads a customer's calls,
life events and opportunities in time order for ``callscout customer``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlite_utils import Database

from callscout.match.catalogue import Policy

OPEN = "open"
HELD = "held"
WON = "won"
LOST = "lost"
OPPORTUNITY_STATUSES = (OPEN, HELD, WON, LOST)

# held_reason codes: "<code>: <detail>"
DECLINED_COOLDOWN = "declined_cooldown"
DECLINED_LATER = "declined_later"
CRM_LOST = "crm_lost"
CRM_WON = "crm_won"
MAX_OPEN = "max_open_per_customer"

Row = dict[str, Any]


@dataclass(frozen=True)
class Decline:
    call_id: str
    day: str  # YYYY-MM-DD of the call in which the customer declined
    later: bool = False  # declined in a call after the one being placed


@dataclass(frozen=True)
class Closed:
    opportunity_id: str
    status: str  # won or lost
    day: str  # closed_at, else the day the outcome was imported


@dataclass
class CustomerHistory:
    """What the contact policy knows about a customer's *other* calls (one catalogue)."""

    open_by_product: dict[str, str] = field(default_factory=dict)  # product id -> open opportunity id
    open_count: int = 0
    declines: dict[str, Decline] = field(default_factory=dict)  # product id -> a later decline, else the latest in the cooldown
    closed: dict[str, Closed] = field(default_factory=dict)  # product id -> latest CRM close in the cooldown


@dataclass
class Previous:
    """What a call had placed before it is saved again."""

    own: dict[str, Row] = field(default_factory=dict)  # product id -> its own opportunities row
    links: dict[str, str] = field(default_factory=dict)  # product id -> another call's opportunity id
    added_at: dict[str, str] = field(default_factory=dict)  # evidence row id -> added_at


@dataclass(frozen=True)
class Placement:
    product_id: str
    opportunity_id: str  # the call's own new (or kept) opportunity, or the one evidence is appended to
    append: bool = False  # True: evidence for an opportunity another call created
    status: str = OPEN
    held_reason: str | None = None
    kept: Row | None = None  # the call's earlier row for this product, kept as it was


def place(
    candidates: list[tuple[str, str]],
    previous: Previous,
    history: CustomerHistory | None,
    policy: Policy,
) -> list[Placement]:
    """Where each ``(product id, own opportunity id)`` goes, best candidate first.

    ``history`` is None for a call without a customer id: nothing is merged or held.
    """
    open_count = history.open_count if history else 0
    products = {product_id for product_id, _ in candidates}
    open_count += sum(1 for p, row in previous.own.items() if row["status"] == OPEN and p in products)
    placements = []
    for product_id, opportunity_id in candidates:
        kept = previous.own.get(product_id)
        if kept is not None:
            placements.append(
                Placement(product_id, kept["id"], status=kept["status"], held_reason=kept["held_reason"], kept=kept)
            )
        elif product_id in previous.links:
            placements.append(Placement(product_id, previous.links[product_id], append=True))
        elif history is None:
            placements.append(Placement(product_id, opportunity_id))
        elif product_id in history.open_by_product:
            placements.append(Placement(product_id, history.open_by_product[product_id], append=True))
        else:
            reason = held_reason(product_id, history, open_count, policy)
            if reason is None:
                open_count += 1
            placements.append(Placement(product_id, opportunity_id, status=HELD if reason else OPEN, held_reason=reason))
    return placements


def declined_reason(decline: Decline) -> str:
    code = DECLINED_LATER if decline.later else DECLINED_COOLDOWN
    return f"{code}: declined in call {decline.call_id} on {decline.day}"


def held_reason(product_id: str, history: CustomerHistory, open_count: int, policy: Policy) -> str | None:
    """Why a new opportunity for this product is kept back, or None to offer it."""
    decline = history.declines.get(product_id)
    if decline is not None:
        return declined_reason(decline)
    closed = history.closed.get(product_id)
    if closed is not None:
        code = CRM_WON if closed.status == WON else CRM_LOST
        return f"{code}: {closed.status} in the CRM on {closed.day} (opportunity {closed.opportunity_id})"
    if open_count >= policy.max_open_per_customer:
        return f"{MAX_OPEN}: {open_count} open"
    return None


# reading the history


def moment(timestamp: str | None) -> datetime | None:
    """An ISO 8601 time as aware UTC (naive times are read as UTC); None when unreadable."""
    if not timestamp:
        return None
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def call_moment(call: Row) -> datetime | None:
    """When a call happened: ``recorded_at``, falling back to ``processed_at``."""
    return moment(call.get("recorded_at")) or moment(call.get("processed_at"))


def _within(earlier: datetime | None, later: datetime | None, days: int) -> bool:
    if earlier is None or later is None or days <= 0:
        return False
    return timedelta(0) <= later - earlier <= timedelta(days=days)


def load_history(db: Database, call: Row, policy: Policy) -> CustomerHistory | None:
    """The customer's other calls and opportunities as the policy sees them from ``call``."""
    if not call.get("customer_id"):
        return None
    history = CustomerHistory()
    when = call_moment(call)
    for row in db.query(
        "SELECT id, product_id, status, closed_at, created_at FROM opportunities"
        " WHERE customer_id = ? AND catalogue IS ? AND call_id != ? ORDER BY created_at, id",
        [call["customer_id"], call["catalogue"], call["id"]],
    ):
        if row["status"] == OPEN:
            history.open_count += 1
            history.open_by_product.setdefault(row["product_id"], row["id"])
    history.declines = _declines(db, call, when, policy)
    history.closed = _closed(db, call, when, policy)
    return history


def _declines(db: Database, call: Row, when: datetime | None, policy: Policy) -> dict[str, Decline]:
    found: dict[str, tuple[datetime, Decline]] = {}
    for row in db.query(
        "SELECT s.label, c.id, c.recorded_at, c.processed_at FROM signals s JOIN calls c ON c.id = s.call_id"
        " WHERE s.kind = 'declined' AND c.customer_id = ? AND s.catalogue IS ? AND c.id != ? AND c.status = 'done'",
        [call["customer_id"], call["catalogue"], call["id"]],
    ):
        declined_at = call_moment(row)
        later = declined_at is not None and when is not None and declined_at > when
        if later or _within(declined_at, when, policy.decline_cooldown_days):
            latest = found.get(row["label"])
            if latest is None or declined_at > latest[0]:
                found[row["label"]] = (declined_at, Decline(row["id"], declined_at.date().isoformat(), later))
    return {label: decline for label, (_, decline) in found.items()}


def held_by_decline(db: Database, call: Row, declined: set[str], policy: Policy) -> dict[str, str]:
    """The customer's ``open`` opportunities for products ``call`` declines, each with its
    held_reason: those raised in an earlier call, and in a later one within the cooldown.
    ``_declines`` holds the same ones when their calls are saved after this one."""
    when = call_moment(call)
    if not call.get("customer_id") or not declined or when is None:
        return {}
    held = {}
    for row in db.query(
        "SELECT o.id, o.product_id, c.recorded_at, c.processed_at FROM opportunities o JOIN calls c ON c.id = o.call_id"
        " WHERE o.customer_id = ? AND o.catalogue IS ? AND o.call_id != ? AND o.status = 'open'",
        [call["customer_id"], call["catalogue"], call["id"]],
    ):
        raised_at = call_moment(row)
        if row["product_id"] not in declined or raised_at is None:
            continue
        if raised_at < when or _within(when, raised_at, policy.decline_cooldown_days):
            held[row["id"]] = declined_reason(Decline(call["id"], when.date().isoformat(), later=raised_at < when))
    return held


def _closed(db: Database, call: Row, when: datetime | None, policy: Policy) -> dict[str, Closed]:
    found: dict[str, tuple[datetime, Closed]] = {}
    for row in db.query(
        "SELECT o.id, o.product_id, o.status, o.closed_at,"
        " (SELECT max(imported_at) FROM outcomes WHERE opportunity_id = o.id) AS imported_at"
        " FROM opportunities o WHERE o.customer_id = ? AND o.catalogue IS ? AND o.status IN ('won', 'lost')",
        [call["customer_id"], call["catalogue"]],
    ):
        closed_at = moment(row["closed_at"]) or moment(row["imported_at"])
        if _within(closed_at, when, policy.decline_cooldown_days):
            latest = found.get(row["product_id"])
            if latest is None or closed_at > latest[0]:
                found[row["product_id"]] = (closed_at, Closed(row["id"], row["status"], closed_at.date().isoformat()))
    return {product_id: closed for product_id, (_, closed) in found.items()}


def load_previous(db: Database, call_id: str, catalogue: str | None) -> Previous:
    """The opportunities and evidence links a call placed for this catalogue when it was saved before."""
    previous = Previous()
    for row in db.query("SELECT * FROM opportunities WHERE call_id = ? AND catalogue IS ?", [call_id, catalogue]):
        previous.own[row["product_id"]] = row
    for row in db.query(
        "SELECT e.id, e.opportunity_id, e.added_at, o.product_id, o.call_id FROM opportunity_evidence e"
        " LEFT JOIN opportunities o ON o.id = e.opportunity_id WHERE e.call_id = ? AND e.catalogue IS ?",
        [call_id, catalogue],
    ):
        previous.added_at[row["id"]] = row["added_at"]
        if row["product_id"] is not None and row["call_id"] != call_id:
            previous.links[row["product_id"]] = row["opportunity_id"]
    return previous


# the timeline


@dataclass
class TimelineCall:
    id: str
    source_path: str
    at: str | None  # recorded_at, else processed_at
    catalogue: str | None
    status: str
    life_events: list[Row] = field(default_factory=list)  # label, evidence, start_s
    declined: list[Row] = field(default_factory=list)  # label, evidence, start_s
    opportunities: list[Row] = field(default_factory=list)  # what this call triggered (new or appended)


@dataclass
class Timeline:
    customer_id: str
    calls: list[TimelineCall]
    opportunities: list[Row]  # each once: status, held_reason, pitch_id, amount, closed_at, calls

    def to_dict(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "calls": [asdict(c) for c in self.calls], "opportunities": self.opportunities}


def customer_timeline(db: Database, customer_id: str) -> Timeline | None:
    """The customer's calls in time order, each with its life events, declines and the
    opportunities it triggered; None when no call has this customer id."""
    calls = list(db.query("SELECT * FROM calls WHERE customer_id = ?", [customer_id]))
    if not calls:
        return None
    calls.sort(key=lambda c: (call_moment(c) or datetime.min.replace(tzinfo=timezone.utc), c["id"]))
    timeline = [_timeline_call(db, call) for call in calls]
    opportunities = list(db.query(
        "SELECT o.id, o.product_id, o.product_name, o.catalogue, o.status, o.held_reason, o.pitch_id, o.amount,"
        " o.closed_at, o.call_id, o.created_at, o.updated_at,"
        " max(1, (SELECT count(*) FROM opportunity_evidence e WHERE e.opportunity_id = o.id)) AS calls"
        " FROM opportunities o JOIN calls c ON c.id = o.call_id WHERE c.customer_id = ?",
        [customer_id],
    ))
    order = {call.id: position for position, call in enumerate(timeline)}
    opportunities.sort(key=lambda o: (order.get(o["call_id"], len(order)), o["product_id"]))
    return Timeline(customer_id, timeline, opportunities)


def _timeline_call(db: Database, call: Row) -> TimelineCall:
    catalogues = [row["catalogue"] for row in db.query(
        "SELECT catalogue FROM call_results WHERE call_id = ? ORDER BY rowid", [call["id"]]
    )]
    entry = TimelineCall(call["id"], call["source_path"], call.get("recorded_at") or call.get("processed_at"),
                         ", ".join(catalogues) or call["catalogue"], call["status"])
    for signal in db.query(
        "SELECT DISTINCT kind, label, evidence, start_s FROM signals WHERE call_id = ?"
        " AND kind IN ('life_event', 'declined') ORDER BY start_s, kind, label",
        [call["id"]],
    ):
        target = entry.life_events if signal["kind"] == "life_event" else entry.declined
        target.append({"label": signal["label"], "evidence": signal["evidence"], "start_s": signal["start_s"]})
    entry.opportunities = list(db.query(
        "SELECT o.id AS opportunity_id, o.product_id, o.product_name, o.status, o.held_reason, o.pitch_id,"
        " o.call_id = e.call_id AS first, e.trigger_kind, e.trigger_label, e.evidence, e.start_s, e.score"
        " FROM opportunity_evidence e JOIN opportunities o ON o.id = e.opportunity_id WHERE e.call_id = ?"
        " UNION ALL"
        " SELECT o.id, o.product_id, o.product_name, o.status, o.held_reason, o.pitch_id, 1, o.trigger_kind,"
        " o.trigger_label, o.evidence, o.start_s, o.score FROM opportunities o WHERE o.call_id = ?"
        " AND NOT EXISTS (SELECT 1 FROM opportunity_evidence e WHERE e.opportunity_id = o.id AND e.call_id = o.call_id)"
        " ORDER BY score DESC, product_id",
        [call["id"], call["id"]],
    ))
    for row in entry.opportunities:
        row["first"] = bool(row["first"])
    return entry
