"""What the ``callscout`` commands show on the console: log lines, progress, run summaries.

Kept apart from ``cli`` so that the commands read as option parsing over the library. rich is
imported inside each function, never here at the top: ``callscout --help`` must start without it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from callscout.process import FileOutcome, Pipeline, RunSummary

# A recording (or group decoded together) at least this long shows its own audio-minutes bar.
LONG_RECORDING_SECONDS = 60.0
SUMMARY_COLUMNS = ("file", "status", "lang", "seconds", "opportunities")
# Every status a run can end a file in, in the order the summary line counts them.
SUMMARY_STATUSES = ("done", "unchanged", "failed", "skipped")


def setup_logging(verbose: bool) -> None:
    """Log to stderr through rich, so log lines and the progress bar do not tear each other."""
    from rich.console import Console
    from rich.logging import RichHandler

    # --verbose: callscout's own stages; other libraries' (spaCy's, faster-whisper's) from warnings up
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=Console(stderr=True), show_path=False)])
    logging.getLogger("callscout").setLevel(logging.INFO if verbose else logging.WARNING)


def run_with_progress(
    pipeline: Pipeline, paths: Sequence[Path], customer_pattern: str | None, console: Console | None = None
) -> RunSummary:
    """Run ``pipeline`` over ``paths`` under a progress bar of files and audio minutes, and one
    of audio minutes with an ETA while a recording (or group) longer than a minute is decoded.

    A batch of long recordings runs for hours, so its progress and failures show as they happen;
    for a single file the bar of files is left out. ``paths`` is read twice: once here to size
    the bar, once by the pipeline.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from callscout.inputs.discovery import discover

    inputs, _ = discover(list(paths))
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"), TimeRemainingColumn())
    console = console or Console(stderr=True)  # stdout stays for what a command prints as its result
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        files = progress.add_task("calls", total=len(inputs), detail=f"0/{len(inputs)} files", visible=len(inputs) >= 2)
        minutes = 0.0
        audio: dict[str, int] = {}  # group name -> its task

        def advance(outcome: FileOutcome) -> None:
            nonlocal minutes
            minutes += (outcome.duration_s or 0.0) / 60
            done = progress.tasks[files].completed + 1
            progress.update(files, advance=1, detail=f"{done:.0f}/{len(inputs)} files · {minutes:.1f} audio min")
            if outcome.status == "failed":
                progress.console.print(f"[red]failed[/red] {escape(outcome.error or '')}", markup=True, highlight=False)

        def transcribing(group: list[Path], done: float, total: float) -> None:
            if total < LONG_RECORDING_SECONDS:
                return
            name = escape(group[0].name if len(group) == 1 else f"{group[0].name} +{len(group) - 1}")
            if name not in audio:
                audio[name] = progress.add_task(name, total=total, detail="")
            progress.update(audio[name], completed=done, detail=f"{done / 60:.1f} of {total / 60:.1f} audio min")
            progress.refresh()  # a step can come sooner than the next timed redraw
            if done >= total:
                progress.update(audio[name], visible=False)

        pipeline.on_audio_progress = transcribing
        try:
            return pipeline.run(paths, customer_pattern, on_file=advance)
        finally:
            pipeline.on_audio_progress = None


def print_run_summary(summary: RunSummary, db: Path) -> None:
    """Print to stderr what a ``process`` run did: skipped files, a table of the others, totals."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # File names and errors are data, not markup: "[/x]" in a path must not stop the report.
    console = Console(stderr=True)
    for outcome in summary.outcomes:
        if outcome.status == "skipped":
            console.print(f"skipped {outcome.path}: {outcome.error}", highlight=False, markup=False)
    table = Table(title=escape(f"callscout → {db}"))
    for column in SUMMARY_COLUMNS:
        table.add_column(column)
    for o in summary.outcomes:
        if o.status != "skipped":
            table.add_row(escape(o.path.name), o.status, o.language or "", f"{o.seconds:.1f}", escape(", ".join(o.opportunities)))
    console.print(table)
    by_product = Counter(p for o in summary.outcomes for p in o.opportunities)
    counts = ", ".join(f"{s}: {summary.count(s)}" for s in SUMMARY_STATUSES)
    console.print(f"{counts}; opportunities: {sum(by_product.values())} {dict(by_product.most_common())}", markup=False)
    console.print(
        f"time: reading/transcription {summary.seconds('read'):.1f} s, extraction {summary.seconds('extract'):.1f} s",
        markup=False,
    )


def announce_watching(inbox: Path, settle: float) -> Callable[[bool], None]:
    """The watcher's ``on_start``: one stderr line once it is ready, saying whether it gets
    file events or has to poll (which tells an operator why files may be taken late)."""

    def announce(events: bool) -> None:
        typer.echo(f"watching {inbox} ({'file events' if events else 'polling'}, settle {settle:g} s)", err=True)

    return announce


def report_filed(outcome: FileOutcome, destination: Path) -> None:
    """The watcher's ``on_file``: one tab-separated stderr line per file moved out of the inbox,
    so a log of a long-running watch can be grepped and cut."""
    detail = outcome.error if outcome.status == "failed" else ", ".join(outcome.opportunities)
    typer.echo(f"{outcome.status}\t{outcome.path.name} -> {destination.parent.name}/{destination.name}\t{detail}", err=True)
