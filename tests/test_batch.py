"""Batch runs: ``process --customer-from-name``, the progress bar (files, audio minutes, ETA)
and ``watch --once`` as cron runs it."""

from __future__ import annotations

import io
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from callscout.cli.commands import app
from callscout.cli.output import run_with_progress
from callscout.process import FileOutcome, Pipeline, RunSummary
from tests.test_watch import CATALOGUE, KeywordExtractor, call_text, drop, files_below


@pytest.fixture
def fake_extraction(monkeypatch, tmp_path):
    monkeypatch.setattr(Pipeline, "extractor", property(lambda self: KeywordExtractor()))
    (tmp_path / "empty.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv("CALLSCOUT_CONFIG", str(tmp_path / "empty.toml"))


def process(*args: str):
    return CliRunner().invoke(app, ["process", *args, "--catalogue", str(CATALOGUE)])


def customers(db: Path) -> dict[str, str | None]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT source_path, customer_id FROM calls").fetchall()
    return {Path(path).name: customer for path, customer in rows}


def test_customer_from_name(tmp_path, fake_extraction):
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("K-1001_2026-11-02.txt", "anruf_K-2002.txt", "ohne-nummer.txt"):
        (calls / name).write_text(call_text(len(name)), encoding="utf-8")
    db = tmp_path / "calls.db"

    result = process(str(calls), "--db", str(db), "--customer-from-name", r"K-(\d+)")

    assert result.exit_code == 0, result.output
    assert customers(db) == {"K-1001_2026-11-02.txt": "1001", "anruf_K-2002.txt": "2002", "ohne-nummer.txt": None}


def test_sidecar_customer_wins_over_the_file_name(tmp_path, fake_extraction):
    (tmp_path / "K-1001_anruf.txt").write_text(call_text(1), encoding="utf-8")
    (tmp_path / "K-1001_anruf.meta.json").write_text('{"customer_id": "K-9999"}', encoding="utf-8")
    db = tmp_path / "calls.db"

    result = process(str(tmp_path / "K-1001_anruf.txt"), "--db", str(db), "--customer-from-name", r"K-\d+")

    assert result.exit_code == 0, result.output
    assert customers(db) == {"K-1001_anruf.txt": "K-9999"}


def test_whole_match_when_the_regex_has_no_group(tmp_path, fake_extraction):
    (tmp_path / "K-77_anruf.txt").write_text(call_text(1), encoding="utf-8")
    db = tmp_path / "calls.db"
    assert process(str(tmp_path / "K-77_anruf.txt"), "--db", str(db), "--customer-from-name", r"K-\d+").exit_code == 0
    assert customers(db) == {"K-77_anruf.txt": "K-77"}


class FakePipeline:
    """Reports two calls of 90 s and 30 s without analysing anything."""

    def run(self, paths, customer_pattern, on_file):
        outcomes = [FileOutcome(Path(p), "done", duration_s=d) for p, d in zip(sorted(paths), (90.0, 30.0))]
        for outcome in outcomes:
            on_file(outcome)
        return RunSummary(outcomes)


def test_progress_shows_files_and_audio_minutes(tmp_path):
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for path in paths:
        path.write_text(call_text(1), encoding="utf-8")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)

    summary = run_with_progress(FakePipeline(), paths, None, console=console)

    assert summary.count("done") == 2
    rendered = out.getvalue()
    assert "2/2 files · 2.0 audio min" in rendered


@pytest.fixture
def inbox(tmp_path) -> Path:
    (tmp_path / "inbox").mkdir()
    return tmp_path / "inbox"


@pytest.fixture
def cli(fake_extraction, tmp_path):
    db = tmp_path / "cli.db"
    return lambda *args: CliRunner().invoke(app, ["watch", *args, "--catalogue", str(CATALOGUE), "--db", str(db)])


def test_watch_once_exits_1_when_every_file_failed(cli, inbox):
    drop(inbox / "b.vtt", "kaputt\n")
    result = cli(str(inbox), "--settle", "0", "--once")
    assert result.exit_code == 1, result.output
    assert files_below(inbox) == ["failed/b.vtt", "failed/b.vtt.error.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["inbox", "--customer-from-name", "("], "bad customer regex"), (["nowhere"], "no such folder")],
)
def test_watch_usage_errors(cli, inbox, args, message):
    result = cli(str(inbox.parent / args[0]), "--once", *args[1:])
    assert result.exit_code == 2
    assert message in result.output


def test_the_summary_gives_the_time_of_each_stage(tmp_path, fake_extraction):
    calls = tmp_path / "calls"
    calls.mkdir()
    for number in range(2):
        (calls / f"call{number}.txt").write_text(call_text(number), encoding="utf-8")
    db = tmp_path / "calls.db"
    with opened_pipeline(db) as pipeline:
        summary = pipeline.run([calls])
    assert [o.status for o in summary.outcomes] == ["done", "done"]
    assert all(o.read_seconds > 0 and o.extract_seconds > 0 for o in summary.outcomes)
    assert summary.seconds("read") == pytest.approx(sum(o.read_seconds for o in summary.outcomes))
    assert summary.seconds("read") + summary.seconds("extract") <= sum(o.seconds for o in summary.outcomes)

    result = process(str(calls), "--db", str(tmp_path / "other.db"))
    assert result.exit_code == 0, result.output
    assert "time: reading/transcription " in result.output and " s, extraction " in result.output


@contextmanager
def opened_pipeline(db: Path):
    from callscout.config import Config
    from callscout.match.catalogue import load_catalogue
    from callscout.store.database import Store

    with Store(db) as store:
        yield Pipeline(Config(), load_catalogue(CATALOGUE), store)
