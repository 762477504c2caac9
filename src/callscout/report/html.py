"""The report as one self-contained HTML page: figures in tables, charts as inline SVG.

No script, no external style sheet, font or image: a Content-Security-Policy in the page
forbids them too. Every text taken from the store is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from callscout.report.data import ABTest, Filters, Outcomes, ReportData, Week

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 68rem;
       padding: 0 1rem; color: #1d2733; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #d5dbe3; padding-bottom: .2rem; }
.meta { color: #5b6878; margin-top: 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(12.5rem, 1fr)); gap: .8rem; margin: 1.2rem 0; }
.kpi { background: #f3f6f9; border-radius: 6px; padding: .7rem .9rem; }
.kpi .value { font-size: 1.6rem; font-weight: 600; display: block; }
.kpi#kpi-outcomes .value { font-size: 1.25rem; line-height: 2.3rem; white-space: nowrap; }
.kpi .label { color: #5b6878; font-size: .85rem; } .kpi .note { color: #5b6878; font-size: .8rem; display: block; }
table { border-collapse: collapse; width: 100%; margin: .8rem 0 1.2rem; font-size: .9rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e3e8ee; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } thead th { background: #f3f6f9; }
tbody th { font-weight: normal; text-align: left; overflow-wrap: anywhere; white-space: normal; }
details summary { cursor: pointer; color: #34597f; margin: .4rem 0; }
figure { margin: 1rem 0; } figure svg { width: 100%; height: auto; }
.empty { background: #fff6e0; border: 1px solid #f0d48a; padding: 1rem; border-radius: 6px; }
.significant { font-weight: 600; color: #b3261e; }
dl.definitions dt { font-weight: 600; margin-top: .5rem; } dl.definitions dd { margin-left: 1rem; }
"""
OPEN_WEEKS = 12  # a longer weekly table starts folded (<details>, no script needed)
OUTCOME_COLUMNS = ("opportunities", "open", "won", "lost", "conversion", "95% CI", "revenue")
DEFINITIONS = (
    ("Calls processed", "calls whose status is done, on their recorded date (else the date they were processed). "
     "Failed calls are counted apart."),
    ("Opportunity", "an opportunity that was offered: held ones (kept back by the contact policy) are left out of "
     "every count and rate except the held count. It belongs to the call that first raised it."),
    ("Cross-selling rate", "done calls with at least one opportunity / done calls. A call has one when an opportunity "
     "was first raised in it or the call added evidence to it."),
    ("Conversion rate", "won / (won + lost) with a Wilson 95% interval; open opportunities are shown beside it but "
     "not counted in it."),
    ("Revenue", "the sum of the CRM amounts of won opportunities."),
    ("A/B test", "per product with two or more recorded pitch variants: Fisher's exact test (two variants with "
     "outcomes) or Pearson's chi-square test (more; approximate for small counts) of equal conversion, two-sided. "
     "p < 0.05 is marked. Opportunities without a recorded pitch variant are left out of the comparison."),
    ("Weeks", "ISO weeks (Monday to Sunday) of the call's recorded date, else its processing date."),
)


def render_html(data: ReportData) -> str:
    """The whole page for ``data``."""
    body = _empty(data) if data.empty else _sections(data)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>callscout report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>callscout report</h1>\n{_meta(data)}\n{body}\n{_definitions()}\n</body>\n</html>\n"
    )


def _meta(data: ReportData) -> str:
    return f'<p class="meta">{escape(describe_filters(data.filters))} · generated {escape(data.generated_at)}</p>'


def describe_filters(filters: Filters) -> str:
    parts = [f"catalogue {filters.catalogue}" if filters.catalogue is not None else "all catalogues"]
    if filters.since or filters.until:
        parts.append(f"calls from {filters.since or 'the start'} to {filters.until or 'today'}")
    else:
        parts.append("all calls")
    return ", ".join(parts)


def _empty(data: ReportData) -> str:
    failed = f" ({data.failed_calls} failed calls)" if data.failed_calls else ""
    return f'<p class="empty" id="no-data">No data: no processed calls match these filters{failed}.</p>'


def _sections(data: ReportData) -> str:
    from callscout.report import charts  # matplotlib loads only when a page is rendered

    return "\n".join(
        (
            _kpis(data),
            "<h2>Trends by week</h2>",
            _figure(charts.weekly_chart(data.weeks), "weeks"),
            _week_table(data.weeks),
            "<h2>Opportunities and conversion by product</h2>",
            _figure(charts.outcomes_chart("product", "Opportunities by product", data.by_product), "product"),
            _figure(charts.conversion_chart("product-conversion", "Conversion by product", data.by_product), "product-conversion")
            if any(r.decided for r in data.by_product) else "",
            _outcome_table("by-product", "product", data.by_product),
            "<h2>Opportunities and conversion by trigger</h2>",
            _figure(charts.outcomes_chart("trigger", "Opportunities by trigger", data.by_trigger), "trigger"),
            _outcome_table("by-trigger", "trigger", data.by_trigger),
            "<h2>Conversion by account manager</h2>",
            _figure(charts.conversion_chart("manager", "Conversion by account manager", data.by_manager), "manager")
            if any(r.decided for r in data.by_manager) else "",
            _outcome_table("by-manager", "account manager", data.by_manager),
            "<h2>Pitch variants and A/B tests</h2>",
            _outcome_table("by-pitch", "product / pitch variant", data.by_pitch),
            _ab_section(data.ab_tests, charts),
        )
    )


def _kpis(data: ReportData) -> str:
    total = data.total
    cards = (
        ("calls", "calls processed", str(data.calls), f"{data.failed_calls} failed"),
        ("calls-with-opportunity", "calls with an opportunity", str(data.calls_with_opportunity), ""),
        ("cross-selling-rate", "cross-selling rate", percent(data.cross_selling_rate), "calls with an opportunity / calls"),
        ("opportunities", "opportunities", str(total.opportunities), f"{data.held} held back (not counted)"),
        ("outcomes", "won / lost / open", f"{total.won} / {total.lost} / {total.open}", ""),
        ("conversion", "conversion rate", percent(total.conversion),
         f"95% CI {interval(total.interval)}; won / (won + lost)" if total.decided else "no won or lost ones yet"),
        ("revenue", "revenue (won)", money(total.revenue), ""),
    )
    return '<div class="kpis">' + "".join(
        f'<div class="kpi" id="kpi-{key}"><span class="label">{label}</span><span class="value">{escape(value)}</span>'
        f'<span class="note">{escape(note)}</span></div>'
        for key, label, value, note in cards
    ) + "</div>"


def _figure(svg: str, name: str) -> str:
    return f'<figure id="chart-{name}">{svg}</figure>'


def _table(table_id: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join(
        f'<tr><th scope="row">{escape(row[0])}</th>' + "".join(f"<td>{escape(cell)}</td>" for cell in row[1:]) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _outcome_row(row: Outcomes, label: str | None = None) -> tuple[str, ...]:
    counts = (row.opportunities, row.open, row.won, row.lost)
    return (label or row.label, *map(str, counts), percent(row.conversion), interval(row.interval), money(row.revenue))


def _outcome_table(table_id: str, first: str, rows: list[Outcomes]) -> str:
    return _table(table_id, (first, *OUTCOME_COLUMNS), [_outcome_row(r) for r in rows])


def _week_table(weeks: list[Week]) -> str:
    rows = [(w.week, str(w.calls), str(w.calls_with_opportunity), str(w.opportunities), percent(w.cross_selling_rate)) for w in weeks]
    table = _table("by-week", ("ISO week", "calls", "calls with an opportunity", "opportunities", "cross-selling rate"), rows)
    if len(weeks) <= OPEN_WEEKS:
        return table
    return f"<details><summary>Table of all {len(weeks)} weeks</summary>{table}</details>"


def _ab_section(tests: list[ABTest], charts) -> str:
    if not tests:
        return '<p id="ab-none">No product has two or more recorded pitch variants: nothing to compare.</p>'
    return "\n".join(_ab_test(test, charts) for test in tests)


def _ab_test(test: ABTest, charts) -> str:
    verdict = "not enough outcomes to compare" if test.p_value is None else f"{test.test} test, two-sided p = {p_value(test.p_value)}"
    marked = ' class="significant"' if test.p_value is not None and test.p_value < 0.05 else ""
    chart = _figure(charts.ab_chart(test), f"ab-{escape(test.product_id)}") if any(v.decided for v in test.variants) else ""
    return (
        f'<section class="ab" data-product="{escape(test.product_id)}"><h3>A/B: {escape(test.product_name)}</h3>'
        f"<p{marked}>{escape(verdict)}{' (p &lt; 0.05)' if marked else ''}</p>{chart}"
        + _table(f"ab-{escape(test.product_id)}", ("pitch variant", *OUTCOME_COLUMNS), [_outcome_row(v) for v in test.variants])
        + "</section>"
    )


def _definitions() -> str:
    items = "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in DEFINITIONS)
    return f'<h2>Definitions</h2>\n<dl class="definitions" id="definitions">{items}</dl>'


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def interval(bounds: tuple[float, float] | None) -> str:
    return "–" if bounds is None else f"{100 * bounds[0]:.1f} – {100 * bounds[1]:.1f} %"


def money(value: float) -> str:
    return f"{value:,.2f}"


def p_value(value: float) -> str:
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"
