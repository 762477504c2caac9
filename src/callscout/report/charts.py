"""The report's charts: matplotlib figures (Agg canvas) written as inline SVG.

Import this module only when a page is rendered: matplotlib takes about a second to load.
Text is drawn as paths (``svg.fonttype = path``), so the page needs no font; store text is
never read as mathtext (``text.parse_math = False``), and matplotlib escapes it in the
comments it writes beside each text path.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from callscout.report.data import ABTest, Outcomes, Week

MAX_BARS = 15
MAX_TICKS = 20
LABEL_CHARS = 38
WIDTH_IN = 9.0
COLOURS = {"open": "#b8bec6", "won": "#1b9e77", "lost": "#d95f02", "calls": "#9db4d3", "opportunities": "#34597f", "rate": "#c2185b"}
RC = {
    "svg.fonttype": "path",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


@contextmanager
def _figure(name: str, height: float) -> Iterator[Figure]:
    """A figure on an Agg canvas, with a per-chart SVG id salt (several SVGs share one page)."""
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"callscout-{name}"}):
        figure = Figure(figsize=(WIDTH_IN, height), layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def to_svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element to inline in HTML (no XML prologue, no metadata)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return _METADATA.sub("", text[text.index("<svg") :])


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def weekly_chart(weeks: list[Week]) -> str:
    with _figure("weeks", 3.4) as figure:
        axes = figure.add_subplot()
        names = [w.week for w in weeks]
        positions = range(len(weeks))
        axes.bar([p - 0.2 for p in positions], [w.calls for w in weeks], 0.4, label="calls", color=COLOURS["calls"])
        axes.bar([p + 0.2 for p in positions], [w.opportunities for w in weeks], 0.4, label="opportunities", color=COLOURS["opportunities"])
        step = -(-len(weeks) // MAX_TICKS)  # every step-th week is labelled
        axes.set_xticks(list(positions)[::step], names[::step], rotation=45 if len(weeks) > 8 else 0,
                        ha="right" if len(weeks) > 8 else "center")
        axes.set_ylabel("count")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        rate = axes.twinx()
        dense = len(weeks) > MAX_TICKS
        rates = [_percent(w.cross_selling_rate) for w in weeks]
        rate.plot(list(positions), rates, "o-", color=COLOURS["rate"], label="cross-selling rate",
                  markersize=2.5 if dense else 5, linewidth=1 if dense else 1.6)
        rate.set_ylim(0, 105)
        rate.set_ylabel("cross-selling rate (%)")
        rate.spines["right"].set_visible(True)
        handles = axes.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
        axes.legend(handles=handles, loc="upper left", frameon=False, ncols=3, bbox_to_anchor=(0, 1.15))
        axes.set_title("Calls, opportunities and cross-selling rate per ISO week", loc="left", pad=24)
        return to_svg(figure)


def outcomes_chart(name: str, title: str, rows: list[Outcomes]) -> str:
    """Horizontal stacked bars: each group's opportunities split into won, lost and open."""
    shown = rows[:MAX_BARS][::-1]
    with _figure(name, 0.9 + 0.26 * len(shown)) as figure:
        axes = figure.add_subplot()
        labels = [_short(r.label) for r in shown]
        left = [0] * len(shown)
        for status in ("won", "lost", "open"):
            values = [getattr(r, status) for r in shown]
            axes.barh(labels, values, left=left, color=COLOURS[status], label=status)
            left = [a + b for a, b in zip(left, values)]
        axes.set_xlabel("opportunities")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, ncols=3)
        more = f" (top {MAX_BARS} of {len(rows)})" if len(rows) > MAX_BARS else ""
        axes.set_title(title + more, loc="left")
        return to_svg(figure)


def conversion_chart(name: str, title: str, rows: list[Outcomes]) -> str:
    """Conversion rate per group with its Wilson 95 % interval (groups with outcomes only)."""
    shown = [r for r in rows if r.decided][:MAX_BARS][::-1]
    with _figure(name, 0.9 + 0.26 * max(1, len(shown))) as figure:
        axes = figure.add_subplot()
        labels = [f"{_short(r.label)} (n={r.decided})" for r in shown]
        rates = [_percent(r.conversion) for r in shown]
        low = [max(0.0, rate - 100 * r.interval[0]) for rate, r in zip(rates, shown)]  # never below 0 by rounding
        high = [max(0.0, 100 * r.interval[1] - rate) for rate, r in zip(rates, shown)]
        axes.barh(labels, rates, color=COLOURS["won"], alpha=0.75)
        axes.errorbar(rates, labels, xerr=[low, high], fmt="none", ecolor="#333333", capsize=3)
        axes.set_xlim(0, 100)
        axes.set_xlabel("conversion rate, won / (won + lost), % with Wilson 95 % interval")
        axes.set_title(title, loc="left")
        return to_svg(figure)


def ab_chart(test: ABTest) -> str:
    return conversion_chart(f"ab-{test.product_id}", f"{test.product_name}: conversion by pitch variant", test.variants)


def _percent(value: float | None) -> float:
    return 100 * value if value is not None else float("nan")
