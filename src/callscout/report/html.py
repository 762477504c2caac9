"""The report as one self-contained HTML page: figures in tables, charts as inline SVG.

The page is made from the Jinja2 templates in ``templates/`` (``base.html``, ``report.html``
and its partials and macros), with autoescape on: every text taken from the store is
HTML-escaped by the template engine, not by each caller. No script, no external style sheet,
font or image: a Content-Security-Policy in the page forbids them too.
"""

from __future__ import annotations

from functools import cache

from callscout.report.data import Filters, Outcomes, ReportData

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
    """The whole page for ``data``: ``templates/report.html`` (on ``base.html``) with autoescape on."""
    return _environment().get_template("report.html").render(data=data, charts={} if data.empty else _charts(data))


@cache
def _environment():
    # jinja2 (and markupsafe) load only when a page is rendered: `callscout --help` stays fast
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("callscout.report", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped, store text included; only Markup is not
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(percent=percent, interval=interval, money=money, p_value=p_value)
    environment.globals.update(
        describe_filters=describe_filters, definitions=DEFINITIONS, outcome_columns=list(OUTCOME_COLUMNS), open_weeks=OPEN_WEEKS
    )
    return environment


def _charts(data: ReportData) -> dict:
    """The inline SVG charts by name (None where a chart would have nothing to show), as Markup.

    They are markup that matplotlib wrote, not text taken from the store: store text (a product
    name, a manager) is drawn in them as glyph paths, and it appears in the SVG only in the
    comments beside them, which matplotlib escapes (``&``, ``<``, ``>``; ``--`` broken up).
    """
    from markupsafe import Markup

    from callscout.report import charts  # matplotlib loads only when a page is rendered

    def conversion(name: str, title: str, rows: list[Outcomes]) -> Markup | None:
        return Markup(charts.conversion_chart(name, title, rows)) if any(r.decided for r in rows) else None

    return {
        "weeks": Markup(charts.weekly_chart(data.weeks)),
        "product": Markup(charts.outcomes_chart("product", "Opportunities by product", data.by_product)),
        "product_conversion": conversion("product-conversion", "Conversion by product", data.by_product),
        "trigger": Markup(charts.outcomes_chart("trigger", "Opportunities by trigger", data.by_trigger)),
        "manager": conversion("manager", "Conversion by account manager", data.by_manager),
        "ab": {test.product_id: Markup(charts.ab_chart(test)) if any(v.decided for v in test.variants) else None
               for test in data.ab_tests},
    }


def describe_filters(filters: Filters) -> str:
    parts = [f"catalogue {filters.catalogue}" if filters.catalogue is not None else "all catalogues"]
    if filters.since or filters.until:
        parts.append(f"calls from {filters.since or 'the start'} to {filters.until or 'today'}")
    else:
        parts.append("all calls")
    return ", ".join(parts)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def interval(bounds: tuple[float, float] | None) -> str:
    return "–" if bounds is None else f"{100 * bounds[0]:.1f} – {100 * bounds[1]:.1f} %"


def money(value: float) -> str:
    return f"{value:,.2f}"


def p_value(value: float) -> str:
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"
