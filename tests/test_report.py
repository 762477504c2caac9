"""`callscout report`: figures checked against independent SQL on the same store, the HTML
page (escaping, no external resources, empty store), the statistics, the CLI, and the page
rendered in headless Chromium."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections import Counter, defaultdict
from datetime import date
from html.parser import HTMLParser
from itertools import count
from pathlib import Path

import pytest

from callscout.records import CallRecord, CallResult, Opportunity, Segment, Transcript
from callscout.report.data import Filters, build_report, iso_week, print_summary
from callscout.report.html import interval, percent, render_html
from callscout.report.stats import chi_square_sf, chi_square_test, fisher_exact, wilson_interval
from callscout.store.database import Store
from callscout.store.rows import call_id_for, opportunity_id_for

EVIL = "<script>alert('x')</script>"
HOSTILE = '<script>alert(1)</script> & "Co"'  # markup, an ampersand and quotes (for attributes)
NAMES = {"hausrat": "Hausrat & Glas", "rechtsschutz": "Rechtsschutz", "bauspar": f"Bausparen {EVIL}", "kredit": "Kredit"}


# building stores with the real Store API


def ticking_clock():
    ticks = count(1)

    def now() -> str:
        tick = next(ticks)
        return f"2024-06-30T10:{tick // 60 % 60:02d}:{tick % 60:02d}.000000+00:00"

    return now


class StoreBuilder:
    def __init__(self, store: Store):
        self.store = store
        self.n = 0
        self.catalogue_of: dict[str, str] = {}

    def opportunity(self, call_id: str, product: str) -> str:
        return opportunity_id_for(call_id, product, self.catalogue_of[call_id])

    def call(self, products=(), *, recorded_at="2024-05-06T09:00:00", manager="Frau Berg", catalogue="finanz",
             trigger=("life_event", "wedding"), names=NAMES) -> str:
        self.n += 1
        sha = hashlib.sha256(f"call-{self.n}".encode()).hexdigest()
        record = CallRecord(
            id=call_id_for(sha), source_path=f"/calls/{self.n}.txt", source_sha256=sha, status="processing",
            customer_id=f"K-{self.n}", account_manager=manager, recorded_at=recorded_at, catalogue=catalogue,
        )
        self.catalogue_of[record.id] = catalogue
        opportunities = [
            Opportunity(p, names.get(p, p), *trigger, "wir heiraten", "customer", 1.0, 2.0, 0.8, f"Pitch {p}")
            for p in products
        ]
        segments = [Segment("customer", "Wir heiraten im Sommer.", 1.0, 2.0, "Kunde")]
        return self.store.save_call(record, CallResult(Transcript(segments, language="de", duration_s=2.0), [], opportunities))

    def failed(self) -> str:
        self.n += 1
        sha = hashlib.sha256(f"call-{self.n}".encode()).hexdigest()
        record = CallRecord(id=call_id_for(sha), source_path=f"/calls/{self.n}.wav", source_sha256=sha,
                            status="failed", error="unreadable", recorded_at="2024-05-06")
        return self.store.save_failure(record)

    def set(self, call_id: str, product: str, status: str, *, amount=None, pitch_id=None, held_reason=None) -> str:
        opportunity_id = self.opportunity(call_id, product)
        self.store.db.execute(
            "UPDATE opportunities SET status = ?, amount = ?, pitch_id = ?, held_reason = ? WHERE id = ?",
            [status, amount, pitch_id, held_reason, opportunity_id],
        )
        self.store.db.conn.commit()
        return opportunity_id

    def evidence(self, opportunity_id: str, call_id: str) -> None:
        self.store.db.execute(
            "INSERT INTO opportunity_evidence (id, opportunity_id, call_id, trigger_kind, trigger_label, added_at) "
            "VALUES (?, ?, ?, 'need', 'x', '2024-06-30')",
            [f"{opportunity_id}:{call_id}", opportunity_id, call_id],
        )
        self.store.db.conn.commit()


def populate(store: Store) -> dict[str, str]:
    """Four ISO weeks, two catalogues, held, won, lost and open opportunities, evidence rows,
    pitch variants (two for hausrat, three for kredit), hostile names."""
    b = StoreBuilder(store)
    ids = {}
    # week 2024-W19 (6 to 12 May)
    c1 = b.call(["hausrat", "rechtsschutz"], recorded_at="2024-05-06T09:00:00")
    b.set(c1, "hausrat", "won", amount=180.0, pitch_id="a")
    b.set(c1, "rechtsschutz", "lost", pitch_id="default")
    c2 = b.call(["hausrat"], recorded_at="2024-05-08", manager=EVIL)
    b.set(c2, "hausrat", "won", amount=220.5, pitch_id="a")
    c3 = b.call(["hausrat"], recorded_at="2024-05-12T23:59:00", manager=EVIL)
    b.set(c3, "hausrat", "lost", pitch_id="b")
    b.call([], recorded_at="2024-05-09")
    # week 2024-W20: a call whose only opportunity is held; one with an evidence row only
    c5 = b.call(["bauspar"], recorded_at="2024-05-13", trigger=("need", "saving"))
    b.set(c5, "bauspar", "held", held_reason="contact policy: 30 days")
    c6 = b.call(["bauspar"], recorded_at="2024-05-14", trigger=("need", "saving"))
    b.set(c6, "bauspar", "open", pitch_id=None)
    c7 = b.call([], recorded_at="2024-05-15")
    b.evidence(b.opportunity(c6, "bauspar"), c6)
    b.evidence(b.opportunity(c6, "bauspar"), c7)
    c8 = b.call([], recorded_at="2024-05-16")
    b.evidence(b.opportunity(c5, "bauspar"), c8)  # evidence of a held one: c8 does not count
    # week 2024-W21: kredit with three pitch variants, complements
    for i, (status, pitch) in enumerate([("won", "x"), ("lost", "x"), ("won", "y"), ("won", "y"), ("lost", "z"),
                                         ("lost", "z"), ("open", "z"), ("won", "x")]):
        c = b.call(["kredit"], recorded_at=f"2024-05-{20 + i % 5:02d}", manager="Herr Ost" if i % 2 else "Frau Berg",
                   trigger=("complement", "hausrat"))
        b.set(c, "kredit", status, amount=1000.0 * (i + 1) if status == "won" else None, pitch_id=pitch)
    c9 = b.call(["hausrat"], recorded_at="2024-05-22")
    b.set(c9, "hausrat", "won", amount=99.99, pitch_id="b")
    # no recorded date: falls on processed_at (2024-06-30, week 26)
    b.call(["rechtsschutz"], recorded_at=None)
    # another catalogue, week 2024-W22
    c11 = b.call(["reise"], recorded_at="2024-05-28", catalogue="reise")
    b.set(c11, "reise", "won", amount=50.0, pitch_id="default")
    b.failed()
    ids.update(c1=c1, c5=c5, c6=c6, c7=c7, c8=c8)
    return ids


@pytest.fixture
def store():
    with Store(":memory:", clock=ticking_clock()) as store:
        yield store


@pytest.fixture
def filled(store):
    populate(store)
    return store


# independent SQL


def sql_figures(db, filters: Filters = Filters()) -> dict:
    """Each figure straight from SQL (a different formulation from the report's)."""
    day = "substr(coalesce(recorded_at, processed_at), 1, 10)"
    where = ["status = 'done'"]
    params: list = []
    if filters.catalogue:
        where.append("catalogue = ?")
        params.append(filters.catalogue)
    if filters.since:
        where.append(f"{day} >= ?")
        params.append(filters.since.isoformat())
    if filters.until:
        where.append(f"{day} <= ?")
        params.append(filters.until.isoformat())
    calls = {row[0]: row[1] for row in db.execute(f"SELECT id, {day} FROM calls WHERE {' AND '.join(where)}", params)}
    with_opp = {row[0] for row in db.execute(
        "SELECT call_id FROM opportunities WHERE status != 'held' UNION "
        "SELECT e.call_id FROM opportunity_evidence e, opportunities o WHERE o.id = e.opportunity_id AND o.status != 'held'"
    )} & set(calls)
    opps = [dict(zip(("call_id", "product_id", "status", "amount", "pitch_id", "trigger"), row)) for row in db.execute(
        "SELECT call_id, product_id, status, amount, pitch_id, trigger_kind || ':' || trigger_label FROM opportunities"
    ) if row[0] in calls]
    offered = [o for o in opps if o["status"] != "held"]
    return {"calls": calls, "with_opp": with_opp, "offered": offered, "held": len(opps) - len(offered)}


def grouped(offered, key) -> dict:
    groups: dict = defaultdict(Counter)
    for o in offered:
        g = groups[key(o)]
        g["n"] += 1
        g[o["status"]] += 1
        g["revenue"] += (o["amount"] or 0) if o["status"] == "won" else 0
    return groups


def assert_groups_match(rows, expected) -> None:
    assert {r.key: (r.opportunities, r.open, r.won, r.lost) for r in rows} == {
        k: (g["n"], g["open"], g["won"], g["lost"]) for k, g in expected.items()
    }
    for r in rows:
        assert r.revenue == pytest.approx(expected[r.key]["revenue"])


# figures against SQL


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(catalogue="finanz"), Filters(since=date(2024, 5, 13), until=date(2024, 5, 22)),
     Filters(catalogue="reise", since=date(2024, 5, 1))],
    ids=["all", "catalogue", "dates", "catalogue-and-dates"],
)
def test_figures_match_sql(filled, filters):
    data = build_report(filled, filters)
    sql = sql_figures(filled.db.conn, filters)

    assert data.calls == len(sql["calls"])
    assert data.calls_with_opportunity == len(sql["with_opp"])
    assert data.cross_selling_rate == pytest.approx(len(sql["with_opp"]) / len(sql["calls"]))
    assert data.opportunities == len(sql["offered"])
    assert data.held == sql["held"]
    won = [o for o in sql["offered"] if o["status"] == "won"]
    lost = [o for o in sql["offered"] if o["status"] == "lost"]
    assert (data.total.won, data.total.lost) == (len(won), len(lost))
    assert data.total.revenue == pytest.approx(sum(o["amount"] for o in won))
    assert_groups_match(data.by_product, grouped(sql["offered"], lambda o: o["product_id"]))
    assert_groups_match(data.by_trigger, grouped(sql["offered"], lambda o: o["trigger"]))
    assert_groups_match(data.by_pitch, grouped(sql["offered"], lambda o: f"{o['product_id']}/{o['pitch_id'] or ''}"))


def test_manager_figures_match_sql(filled):
    data = build_report(filled)
    sql = sql_figures(filled.db.conn)
    managers = dict(filled.db.execute("SELECT id, account_manager FROM calls").fetchall())
    assert_groups_match(data.by_manager, grouped(sql["offered"], lambda o: managers[o["call_id"]]))


def test_weeks_match_sql(filled):
    data = build_report(filled)
    sql = sql_figures(filled.db.conn)
    calls, with_opp, opps = Counter(), Counter(), Counter()
    for call_id, day in sql["calls"].items():
        week = "%d-W%02d" % date.fromisoformat(day).isocalendar()[:2]
        calls[week] += 1
        with_opp[week] += call_id in sql["with_opp"]
    for o in sql["offered"]:
        opps["%d-W%02d" % date.fromisoformat(sql["calls"][o["call_id"]]).isocalendar()[:2]] += 1

    weeks = ["2024-W19", "2024-W20", "2024-W21", "2024-W22", "2024-W23", "2024-W24", "2024-W25", "2024-W26"]
    assert set(calls) < set(weeks)  # weeks without calls are listed too, with zeros
    assert [(w.week, w.calls, w.calls_with_opportunity, w.opportunities) for w in data.weeks] == [
        (week, calls[week], with_opp[week], opps[week]) for week in weeks
    ]
    assert data.weeks[4].cross_selling_rate is None


def test_a_stray_date_does_not_fill_decades_of_weeks(store):
    b = StoreBuilder(store)
    b.call(["hausrat"], recorded_at="1970-01-01")
    b.call([], recorded_at="2024-05-06")
    b.call([], recorded_at="2024-05-20")
    assert [w.week for w in build_report(store).weeks] == ["1970-W01", "2024-W19", "2024-W21"]
    assert [w.week for w in build_report(store, Filters(since=date(2024, 1, 1))).weeks] == ["2024-W19", "2024-W20", "2024-W21"]


def test_held_and_evidence_rules(filled):
    """Spelled out on the example: held ones never count; evidence rows do."""
    data = build_report(filled, Filters(since=date(2024, 5, 13), until=date(2024, 5, 19)))
    assert (data.calls, data.calls_with_opportunity, data.opportunities, data.held) == (4, 2, 1, 1)
    assert data.cross_selling_rate == 0.5
    assert [(r.key, r.opportunities, r.open) for r in data.by_product] == [("bauspar", 1, 1)]


def test_ab_tests(filled):
    data = build_report(filled, Filters(catalogue="finanz"))
    tests = {t.product_id: t for t in data.ab_tests}
    assert set(tests) == {"hausrat", "kredit"}  # rechtsschutz has one variant; bauspar none recorded
    hausrat = tests["hausrat"]
    assert [(v.key, v.won, v.lost) for v in hausrat.variants] == [("a", 2, 0), ("b", 1, 1)]
    assert hausrat.test == "Fisher's exact"
    assert hausrat.p_value == pytest.approx(fisher_exact([[2, 0], [1, 1]]))
    kredit = tests["kredit"]
    assert [(v.key, v.won, v.lost, v.open) for v in kredit.variants] == [("x", 2, 1, 0), ("y", 2, 0, 0), ("z", 0, 2, 1)]
    assert kredit.test == "chi-square"
    assert kredit.p_value == pytest.approx(chi_square_test([[2, 1], [2, 0], [0, 2]])[2])


def test_opportunities_without_evidence_rows_still_count(store):
    """Older stores: an opportunity with no opportunity_evidence row counts for its call."""
    b = StoreBuilder(store)
    b.call(["hausrat"])
    b.call([])
    store.db.execute("DELETE FROM opportunity_evidence")
    data = build_report(store)
    assert (data.calls, data.calls_with_opportunity, data.cross_selling_rate) == (2, 1, 0.5)


def test_iso_week():
    assert iso_week("2024-12-30T08:00:00+01:00") == "2025-W01"
    assert iso_week("2021-01-03") == "2020-W53"
    assert iso_week(None) == "unknown"
    assert iso_week("gestern") == "unknown"


# statistics against known values


def test_wilson_interval_known_values():
    assert wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)
    assert wilson_interval(81, 263) == pytest.approx((0.255289, 0.366210), abs=1e-6)
    assert wilson_interval(0, 0) is None
    for n in range(1, 60):
        for k in range(n + 1):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(0, 7)[0] == 0.0 and wilson_interval(7, 7)[1] == 1.0


def test_fisher_exact_known_values():
    assert fisher_exact([[3, 1], [1, 3]]) == pytest.approx(0.4857142857)  # the lady tasting tea
    assert fisher_exact([[8, 2], [1, 5]]) == pytest.approx(0.0349650350)
    assert fisher_exact([[1, 9], [11, 3]]) == pytest.approx(0.0027594562)
    assert fisher_exact([[10, 10], [10, 10]]) == pytest.approx(1.0)
    assert fisher_exact([[0, 0], [3, 4]]) == 1.0


def test_chi_square_known_values():
    assert chi_square_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert chi_square_sf(5.991465, 2) == pytest.approx(0.05, abs=1e-6)
    assert chi_square_sf(7.814728, 3) == pytest.approx(0.05, abs=1e-6)
    statistic, df, p = chi_square_test([[5, 10], [12, 3], [7, 7]])
    assert (statistic, df, p) == pytest.approx((6.758889, 2, 0.034066), abs=1e-6)


def test_statistics_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for table in ([[0, 7], [4, 2]], [[12, 5], [9, 11]], [[30, 1], [25, 6]]):
        assert fisher_exact(table) == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-9)
    table = [[3, 9], [8, 4], [6, 6], [1, 5]]
    assert chi_square_test(table)[2] == pytest.approx(stats.chi2_contingency(table, correction=False)[1], rel=1e-9)


# the HTML page


class PageParser(HTMLParser):
    """Cells of every table by id, the KPI values by id, every start tag with its attributes,
    and the text of each paragraph and h3 (attribute values and text read back unescaped)."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.kpis: dict[str, str] = {}
        self.tags: Counter = Counter()
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.texts: defaultdict[str, list[str]] = defaultdict(list)
        self._table = self._kpi = None
        self._cell: list[str] | None = None
        self._in_value = False
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        self.starts.append((tag, attrs))
        if tag in ("p", "h3"):
            self._text = self.texts[tag]
            self._text.append("")
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "div" and attrs.get("class") == "kpi":
            self._kpi = attrs["id"].removeprefix("kpi-")
        elif tag == "span" and attrs.get("class") == "value":
            self._in_value = True

    def handle_endtag(self, tag):
        if tag in ("p", "h3"):
            self._text = None
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "span":
            self._in_value = False

    def handle_data(self, data):
        if self._text is not None:
            self._text[-1] += data
        if self._cell is not None:
            self._cell.append(data)
        if self._in_value and self._kpi:
            self.kpis[self._kpi] = data


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def table_rows(parser: PageParser, table_id: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in parser.tables[table_id][1:]}


def test_page_numbers_match_sql(filled):
    sql = sql_figures(filled.db.conn)
    page = parse(render_html(build_report(filled)))

    assert page.kpis["calls"] == str(len(sql["calls"]))
    assert page.kpis["calls-with-opportunity"] == str(len(sql["with_opp"]))
    assert page.kpis["cross-selling-rate"] == f"{100 * len(sql['with_opp']) / len(sql['calls']):.1f} %"
    assert page.kpis["opportunities"] == str(len(sql["offered"]))
    won = [o for o in sql["offered"] if o["status"] == "won"]
    lost = [o for o in sql["offered"] if o["status"] == "lost"]
    assert page.kpis["conversion"] == f"{100 * len(won) / (len(won) + len(lost)):.1f} %"
    assert page.kpis["revenue"] == f"{sum(o['amount'] for o in won):,.2f}"

    products = table_rows(page, "by-product")
    for product_id, g in grouped(sql["offered"], lambda o: o["product_id"]).items():
        decided = g["won"] + g["lost"]
        expected = [str(g["n"]), str(g["open"]), str(g["won"]), str(g["lost"]),
                    percent(g["won"] / decided if decided else None), interval(wilson_interval(g["won"], decided)),
                    f"{g['revenue']:,.2f}"]
        assert products[NAMES.get(product_id, product_id)] == expected

    weeks = table_rows(page, "by-week")
    assert weeks["2024-W20"] == ["4", "2", "1", "50.0 %"]
    assert sum(int(row[0]) for row in weeks.values()) == len(sql["calls"])


def test_page_states_definitions(filled):
    text = render_html(build_report(filled))
    assert "won / (won + lost)" in text
    assert "open opportunities are shown beside it but not counted in it" in text
    assert "Wilson 95% interval" in text
    assert "Fisher&#39;s exact test" in text  # the apostrophe escaped, as Jinja2 (markupsafe) writes it
    assert "ISO weeks" in text


def test_page_escapes_store_text(filled):
    page = render_html(build_report(filled))
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    parsed = parse(page)
    assert EVIL in table_rows(parsed, "by-manager")  # read back as text, not markup
    assert f"Bausparen {EVIL}" in table_rows(parsed, "by-product")
    assert "Hausrat & Glas" in table_rows(parsed, "by-product")


def test_page_escapes_hostile_names_wherever_they_appear(store):
    """A catalogue name, a product id and name, an account manager, a trigger label and a pitch
    variant with markup, an ampersand and quotes: each reaches the page (the filters line, the
    tables' row headers, the A/B section's heading, data-product attribute and the ids of its
    chart and table) and reads back as the same text; no script element, no bare ampersand."""
    b = StoreBuilder(store)
    product = f"Bausparen {HOSTILE}"
    for i in range(4):
        call = b.call([HOSTILE], manager=HOSTILE, catalogue=HOSTILE, trigger=("need", HOSTILE), names={HOSTILE: product})
        b.set(call, HOSTILE, "won" if i % 2 else "lost", amount=100.0, pitch_id=HOSTILE if i < 2 else "b")
    page = render_html(build_report(store, Filters(catalogue=HOSTILE)))

    assert "<script" not in page.lower() and "alert(1)</script>" not in page
    assert not re.findall(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);)", page, re.I)  # each & starts a reference
    parsed = parse(page)
    assert parsed.tags["script"] == 0
    assert parsed.texts["p"][0].startswith(f"catalogue {HOSTILE}, all calls · generated ")
    assert list(table_rows(parsed, "by-product")) == [product]
    assert list(table_rows(parsed, "by-manager")) == [HOSTILE]
    assert list(table_rows(parsed, "by-trigger")) == [f"need: {HOSTILE}"]
    assert sorted(table_rows(parsed, "by-pitch")) == [f"{product} / {HOSTILE}", f"{product} / b"]
    assert parsed.texts["h3"] == [f"A/B: {product}"]
    assert ("section", {"class": "ab", "data-product": HOSTILE}) in parsed.starts
    assert ("figure", {"id": f"chart-ab-{HOSTILE}"}) in parsed.starts
    assert sorted(table_rows(parsed, f"ab-{HOSTILE}")) == [HOSTILE, "b"]
    assert table_rows(parsed, f"ab-{HOSTILE}")["b"][:4] == ["2", "0", "1", "1"]


def test_page_is_self_contained(filled):
    page = render_html(build_report(filled))
    parsed = parse(page)
    assert parsed.tags["svg"] >= 5  # weekly, product, product conversion, trigger, manager, A/B charts
    assert parsed.tags["script"] == parsed.tags["link"] == parsed.tags["img"] == parsed.tags["iframe"] == 0
    lowered = page.lower()
    for marker in ('src="http', 'href="http', "@import", "@font-face", "<text"):
        assert marker not in lowered
    assert not re.search(r"url\((?!#)", lowered)  # only references inside the page's SVGs
    assert "Content-Security-Policy" in page


def test_empty_store_gives_a_page_saying_so(store):
    data = build_report(store)
    assert data.empty and data.cross_selling_rate is None and data.total.conversion is None
    page = render_html(data)
    assert 'id="no-data"' in page and "No data" in page
    assert "<svg" not in page
    assert parse(page).tags["html"] == 1


def test_filters_leaving_nothing_give_an_empty_page(filled):
    data = build_report(filled, Filters(catalogue="nope"))
    assert data.empty
    assert "No data" in render_html(data)


def test_store_without_outcomes_has_no_conversion(store):
    b = StoreBuilder(store)
    b.call(["hausrat"])
    data = build_report(store)
    assert data.total.open == 1 and data.total.conversion is None
    page = parse(render_html(data))
    assert page.kpis["conversion"] == "–"
    assert table_rows(page, "by-product")["Hausrat & Glas"][4:6] == ["–", "–"]


def test_terminal_summary(filled):
    from rich.console import Console

    console = Console(record=True, width=200)
    print_summary(build_report(filled), console)
    text = console.export_text()
    assert "cross-selling rate" in text and "Bausparen <script>" in text
    assert "A/B Kredit: 3 variants, chi-square p =" in text


# the CLI in a subprocess


def callscout(*args):
    return subprocess.run([sys.executable, "-m", "callscout", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path, clock=ticking_clock()) as store:
        populate(store)
    return path


def test_cli_and_report_data_do_not_load_matplotlib():
    """Nor Jinja2: matplotlib and the templates load only when a page is rendered (`callscout --help` stays fast)."""
    code = ("import sys, callscout.cli.commands, callscout.report.data, callscout.report.html; "
            "print([m for m in ('matplotlib', 'jinja2', 'markupsafe') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_templates_are_package_data():
    """Every template is matched by a package-data glob of pyproject.toml, so a wheel ships it."""
    import tomllib
    from fnmatch import fnmatch

    root = Path(__file__).resolve().parents[1]
    package = root / "src" / "callscout"
    globs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["callscout"]
    templates = sorted((package / "report" / "templates").iterdir())
    assert {t.name for t in templates} >= {"base.html", "report.html"}
    for template in templates:
        assert any(fnmatch(template.relative_to(package).as_posix(), glob) for glob in globs), template


def test_cli_report(store_file, tmp_path):
    output = tmp_path / "out" / "report.html"
    result = callscout("report", "--db", store_file, "--output", output, "--catalogue", "finanz", "--since", "2024-05-13")
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}" in result.stderr
    assert "cross-selling rate" in result.stderr
    with sqlite3.connect(store_file) as db:
        sql = sql_figures(db, Filters(catalogue="finanz", since=date(2024, 5, 13)))
    page = parse(output.read_text(encoding="utf-8"))
    assert page.kpis["calls"] == str(len(sql["calls"]))
    assert page.kpis["opportunities"] == str(len(sql["offered"]))


def test_cli_report_errors(tmp_path, store_file):
    missing = callscout("report", "--db", tmp_path / "none.db", "--output", tmp_path / "r.html")
    assert missing.returncode == 2 and "no such store" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    bad = callscout("report", "--db", store_file, "--output", tmp_path / "r.html", "--since", "13.05.2024")
    assert bad.returncode == 2 and "--since" in bad.stderr and "YYYY-MM-DD" in bad.stderr


def test_cli_report_on_empty_store(tmp_path):
    Store(tmp_path / "empty.db").close()
    result = callscout("report", "--db", tmp_path / "empty.db", "--output", tmp_path / "r.html")
    assert result.returncode == 0, result.stderr
    assert "No data" in (tmp_path / "r.html").read_text()


# headless Chromium


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium); CI must run this test")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def headless(browser: str, *args, tmp_path: Path) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the filtered scanlines of an 8-bit PNG (enough to tell blank from not)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, defaultdict(bytes)
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunks[kind] += data[position + 8 : position + 8 + length]
        position += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    return width, height, zlib.decompress(chunks[b"IDAT"])


@pytest.mark.slow
def test_report_renders_in_headless_chromium(filled, tmp_path):
    browser = chromium()
    page = tmp_path / "report.html"
    page.write_text(render_html(build_report(filled)), encoding="utf-8")

    shot = tmp_path / "report.png"
    result = headless(browser, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri(), tmp_path=tmp_path)
    assert shot.is_file(), result.stderr[-2000:]
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1200, 3000)
    assert len(set(raw[i : i + 64] for i in range(0, len(raw), 64))) > 200  # charts and text, not a blank page
    assert shot.stat().st_size > 50_000

    dom = headless(browser, "--dump-dom", page.as_uri(), tmp_path=tmp_path).stdout
    parsed = parse(dom)
    assert parsed.tags["svg"] >= 5
    sql = sql_figures(filled.db.conn)
    assert parsed.kpis["calls"] == str(len(sql["calls"]))
    assert parsed.kpis["opportunities"] == str(len(sql["offered"]))
    assert EVIL in table_rows(parsed, "by-manager")  # still text after the browser parsed the page
    assert parsed.tags["script"] == 0
