"""The report's figures, computed from the store with plain SQL.

Definitions (the HTML page states them too):

- A call counts when its status is ``done``; it falls on ``recorded_at`` (else
  ``processed_at``), which ``since``/``until`` (inclusive dates) and the ISO weeks use.
- An opportunity is one whose status is not ``held`` (held ones were never offered). It
  belongs to the call that first raised it (``opportunities.call_id``), for filters, weeks
  and account managers.
- A call *has* an opportunity when a non-held opportunity names it as its first call, or an
  ``opportunity_evidence`` row of the call points to one.
- Cross-selling rate = done calls with an opportunity / done calls.
- Conversion rate = won / (won + lost), with a Wilson 95 % interval; open ones are counted
  beside it but not in it. Revenue = sum of ``amount`` over won opportunities.
- A/B: per product with two or more recorded pitch variants, Fisher's exact test (two
  variants with outcomes) or Pearson's chi-square test (more) of equal conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from callscout.report.stats import chi_square_test, fisher_exact, wilson_interval
from callscout.store.database import Store

CALL_DAY = "substr(coalesce(c.recorded_at, c.processed_at), 1, 10)"
NOT_HELD = "o.status != 'held'"
HAS_OPPORTUNITY = f"""(
    EXISTS (SELECT 1 FROM opportunities o WHERE o.call_id = c.id AND {NOT_HELD})
    OR EXISTS (SELECT 1 FROM opportunity_evidence e JOIN opportunities o ON o.id = e.opportunity_id
               WHERE e.call_id = c.id AND {NOT_HELD}))"""
VARIANT_OF = "AND o.product_id = ? AND o.pitch_id IS NOT NULL"
UNKNOWN_WEEK = "unknown"
MAX_WEEKS = 260  # a longer span (a stray date) lists only the weeks with calls


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    catalogue: str | None = None


@dataclass
class Outcomes:
    """Non-held opportunities of one group (a product, trigger, manager or pitch variant)."""

    key: str | None
    label: str
    opportunities: int = 0
    open: int = 0
    won: int = 0
    lost: int = 0
    revenue: float = 0.0

    @property
    def decided(self) -> int:
        return self.won + self.lost

    @property
    def conversion(self) -> float | None:
        return self.won / self.decided if self.decided else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.won, self.decided)


@dataclass
class Week:
    week: str  # ISO week, "2024-W18", or "unknown" for calls without a readable date
    calls: int = 0
    calls_with_opportunity: int = 0
    opportunities: int = 0

    @property
    def cross_selling_rate(self) -> float | None:
        return self.calls_with_opportunity / self.calls if self.calls else None


@dataclass
class ABTest:
    product_id: str
    product_name: str
    variants: list[Outcomes]
    test: str | None  # "Fisher's exact", "chi-square" or None (fewer than two variants with outcomes)
    p_value: float | None


@dataclass
class ReportData:
    filters: Filters
    generated_at: str
    calls: int = 0
    failed_calls: int = 0
    calls_with_opportunity: int = 0
    held: int = 0
    total: Outcomes = field(default_factory=lambda: Outcomes(None, "all"))
    by_product: list[Outcomes] = field(default_factory=list)
    by_trigger: list[Outcomes] = field(default_factory=list)
    by_manager: list[Outcomes] = field(default_factory=list)
    by_pitch: list[Outcomes] = field(default_factory=list)
    ab_tests: list[ABTest] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.calls == 0

    @property
    def opportunities(self) -> int:
        return self.total.opportunities

    @property
    def cross_selling_rate(self) -> float | None:
        return self.calls_with_opportunity / self.calls if self.calls else None


def build_report(store: Store, filters: Filters = Filters()) -> ReportData:
    """Every figure of the report, for the calls that match ``filters``."""
    query = _Query(store, filters)
    data = ReportData(filters, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    data.calls = query.scalar("SELECT count(*) FROM calls c WHERE {scope}")
    data.failed_calls = query.scalar("SELECT count(*) FROM calls c WHERE {scope}", status="failed")
    data.calls_with_opportunity = query.scalar(f"SELECT count(*) FROM calls c WHERE {{scope}} AND {HAS_OPPORTUNITY}")
    data.held = query.scalar("SELECT count(*) FROM opportunities o JOIN calls c ON c.id = o.call_id WHERE {scope} AND o.status = 'held'")
    data.total = (query.outcomes("'all'", "'all'") or [Outcomes(None, "all")])[0]
    data.by_product = query.outcomes("o.product_id", "max(coalesce(o.product_name, o.product_id))")
    data.by_trigger = query.outcomes(
        "o.trigger_kind || ':' || o.trigger_label", "replace(o.trigger_kind, '_', ' ') || ': ' || o.trigger_label"
    )
    data.by_manager = query.outcomes("c.account_manager", "coalesce(c.account_manager, '(not set)')")
    data.by_pitch = query.outcomes(
        "o.product_id || '/' || coalesce(o.pitch_id, '')",
        "max(coalesce(o.product_name, o.product_id)) || ' / ' || coalesce(o.pitch_id, '(not recorded)')",
    )
    data.ab_tests = _ab_tests(query)
    data.weeks = _weeks(query)
    return data


class _Query:
    """SQL over the calls in scope (alias ``c``) and their non-held opportunities (``o``)."""

    def __init__(self, store: Store, filters: Filters):
        self.db = store.db
        self.filters = filters

    def scope(self, status: str = "done") -> tuple[str, list[Any]]:
        clauses, parameters = ["c.status = ?"], [status]
        if self.filters.catalogue is not None:
            # done for this catalogue (a call may be done for several), or failed while processed with it
            clauses.append("(c.catalogue = ? OR EXISTS (SELECT 1 FROM call_results r WHERE r.call_id = c.id AND r.catalogue = ?))")
            parameters.extend([self.filters.catalogue, self.filters.catalogue])
        if self.filters.since is not None:
            clauses.append(f"{CALL_DAY} >= ?")
            parameters.append(self.filters.since.isoformat())
        if self.filters.until is not None:
            clauses.append(f"{CALL_DAY} <= ?")
            parameters.append(self.filters.until.isoformat())
        return " AND ".join(clauses), parameters

    def rows(self, sql: str, status: str = "done", extra: list[Any] | None = None) -> list[dict[str, Any]]:
        where, parameters = self.scope(status)
        return list(self.db.query(self._in_scope(sql, where), [*parameters, *(extra or [])]))

    def scalar(self, sql: str, status: str = "done") -> int:
        where, parameters = self.scope(status)
        return self.db.execute(self._in_scope(sql, where), parameters).fetchone()[0]

    def _in_scope(self, sql: str, where: str) -> str:
        """``{scope}`` filled in; with a catalogue filter, ``o`` holds only that catalogue's
        opportunities (a call may have results for several catalogues)."""
        sql = sql.replace("{scope}", where)
        if self.filters.catalogue is None:
            return sql
        literal = "'" + self.filters.catalogue.replace("'", "''") + "'"  # an SQL string literal
        in_catalogue = f"(SELECT * FROM opportunities WHERE catalogue = {literal}) o"
        return sql.replace("FROM opportunities o", f"FROM {in_catalogue}").replace("JOIN opportunities o", f"JOIN {in_catalogue}")

    def outcomes(self, key: str, label: str, where: str = "", *extra: Any) -> list[Outcomes]:
        sql = f"""SELECT {key} AS key, {label} AS label, count(*) AS opportunities,
            sum(o.status = 'open') AS open, sum(o.status = 'won') AS won, sum(o.status = 'lost') AS lost,
            coalesce(sum(CASE WHEN o.status = 'won' THEN o.amount END), 0.0) AS revenue
            FROM opportunities o JOIN calls c ON c.id = o.call_id
            WHERE {{scope}} AND {NOT_HELD} {where}
            GROUP BY {key} ORDER BY opportunities DESC, label"""
        return [Outcomes(**row) for row in self.rows(sql, extra=list(extra))]


def _ab_tests(query: _Query) -> list[ABTest]:
    products = query.rows(
        f"""SELECT o.product_id, max(coalesce(o.product_name, o.product_id)) AS name
        FROM opportunities o JOIN calls c ON c.id = o.call_id
        WHERE {{scope}} AND {NOT_HELD} AND o.pitch_id IS NOT NULL
        GROUP BY o.product_id HAVING count(DISTINCT o.pitch_id) >= 2 ORDER BY o.product_id"""
    )
    tests = []
    for product in products:
        variants = query.outcomes("o.pitch_id", "o.pitch_id", VARIANT_OF, product["product_id"])
        tests.append(ABTest(product["product_id"], product["name"], sorted(variants, key=_by_key), *_compare(variants)))
    return tests


def _by_key(outcomes: Outcomes) -> str:
    return outcomes.key or ""


def _compare(variants: list[Outcomes]) -> tuple[str | None, float | None]:
    table = [[v.won, v.lost] for v in variants if v.decided]
    if len(table) < 2:
        return None, None
    if len(table) == 2:
        return "Fisher's exact", fisher_exact(table)
    return "chi-square", chi_square_test(table)[2]


def _weeks(query: _Query) -> list[Week]:
    weeks: dict[str, Week] = {}
    calls = query.rows(f"SELECT {CALL_DAY} AS day, {HAS_OPPORTUNITY} AS has FROM calls c WHERE {{scope}}")
    for call in calls:
        week = weeks.setdefault(iso_week(call["day"]), Week(iso_week(call["day"])))
        week.calls += 1
        week.calls_with_opportunity += bool(call["has"])
    opportunities = query.rows(
        f"SELECT {CALL_DAY} AS day FROM opportunities o JOIN calls c ON c.id = o.call_id WHERE {{scope}} AND {NOT_HELD}"
    )
    for opportunity in opportunities:
        weeks.setdefault(iso_week(opportunity["day"]), Week(iso_week(opportunity["day"]))).opportunities += 1
    _fill_gaps(weeks)
    return sorted(weeks.values(), key=lambda w: (w.week == UNKNOWN_WEEK, w.week))


def _fill_gaps(weeks: dict[str, Week]) -> None:
    """Add the weeks without calls between the first and the last (up to MAX_WEEKS of them)."""
    known = sorted(w for w in weeks if w != UNKNOWN_WEEK)
    if not known:
        return
    first, last = (date.fromisocalendar(int(w[:4]), int(w[6:]), 1) for w in (known[0], known[-1]))
    if (last - first).days // 7 < MAX_WEEKS:
        for offset in range(0, (last - first).days + 1, 7):
            name = iso_week((first + timedelta(days=offset)).isoformat())
            weeks.setdefault(name, Week(name))


def iso_week(day: str | None) -> str:
    """``"2024-W05"`` for an ISO date (or the date part of a timestamp); "unknown" otherwise."""
    try:
        year, week, _ = date.fromisoformat((day or "")[:10]).isocalendar()
    except ValueError:
        return UNKNOWN_WEEK
    return f"{year}-W{week:02d}"


def print_summary(data: ReportData, console=None) -> None:
    """A short summary of ``data`` for the terminal (rich); store text is printed verbatim."""
    from rich.console import Console
    from rich.table import Table

    from callscout.report.html import interval, money, percent

    console = console or Console(stderr=True)
    if data.empty:
        console.print("No data: no processed calls match these filters.", markup=False, highlight=False)
        return
    total = data.total
    console.print(
        f"{data.calls} calls, {data.calls_with_opportunity} with an opportunity "
        f"(cross-selling rate {percent(data.cross_selling_rate)}); {total.opportunities} opportunities "
        f"({data.held} held back); won {total.won}, lost {total.lost}, open {total.open}; "
        + (f"conversion {percent(total.conversion)} [{interval(total.interval)}]" if total.decided else "no outcomes yet")
        + f"; revenue {money(total.revenue)}",
        markup=False,
        highlight=False,
    )
    table = Table("product", "opportunities", "won", "lost", "open", "conversion", "revenue", title="by product")
    for row in data.by_product[:10]:
        table.add_row(_text(row.label), *map(str, (row.opportunities, row.won, row.lost, row.open)), percent(row.conversion), money(row.revenue))
    console.print(table)
    for test in data.ab_tests:
        result = "too few outcomes" if test.p_value is None else f"{test.test} p = {test.p_value:.4f}"
        console.print(f"A/B {test.product_name}: {len(test.variants)} variants, {result}", markup=False, highlight=False)


def _text(value: str):
    from rich.text import Text

    return Text(value)  # not markup: a product name may contain "[...]"
