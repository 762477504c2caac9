"""Bad inputs: each bad file becomes one ``failed`` call with a one-line error naming it, the
rest of the batch is stored, and the exit code is 0 unless every file failed.

Fast tests drive the ``Pipeline`` with a keyword fake extractor; ``slow`` ones run the real
CLI in a subprocess (spaCy alone takes ~10 s to import) with the hashing encoder.
The helpers here are shared by the other reliability test modules.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callscout.config import Config
from callscout.inputs.transcripts import TRANSCRIPT_SUFFIXES, TranscriptError, parse_transcript
from callscout.match.catalogue import load_catalogue
from callscout.process import MAX_TRANSCRIPT_BYTES, Pipeline
from callscout.records import Signal
from callscout.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "fixtures/catalogues/finanz.yaml"
GOOD_CALL = "Berater: Guten Tag, was kann ich für Sie tun?\nKunde: Wir ziehen nächsten Monat nach Leipzig um.\n"
KEYWORDS = {"ziehen": "moving", "umgezogen": "moving", "moving": "moving", "heiraten": "marriage"}


# --- helpers (also imported by test_crash_safety, test_concurrency, test_privacy, test_security)


class KeywordExtractor:
    """Fake extractor: a life event for each customer segment naming one of ``KEYWORDS``."""

    def extract(self, transcript, catalogue) -> list[Signal]:
        found = []
        for idx, segment in enumerate(transcript.segments):
            for word, label in KEYWORDS.items():
                if segment.speaker == "customer" and word in segment.text.lower():
                    found.append(Signal("life_event", label, segment.text, "customer", segment.start, segment.end, 0.9, idx))
        return found


def fake_pipeline(store: Store, **config) -> Pipeline:
    return Pipeline(Config(language="de", **config), load_catalogue(CATALOGUE), store, extractor=KeywordExtractor())


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCOUT_") or k == "CALLSCOUT_MODELS_DIR"}
    env.update(CALLSCOUT_ENCODER="hashing", CALLSCOUT_LANGUAGE="de")  # cwd is tmp_path: no callscout.toml
    env.update(extra)
    return env


def cli_command(inbox: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "callscout", "process", str(inbox), "--catalogue", str(CATALOGUE), "--db", str(db), *extra]


def run_process(tmp_path: Path, inbox: Path, db: Path, *extra: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(inbox, db, *extra), capture_output=True, text=True, cwd=tmp_path, env=cli_env(tmp_path), timeout=timeout
    )


def query(db: Path, sql: str, parameters=()) -> list[tuple]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def write_calls(folder: Path, count: int, prefix: str = "call") -> list[Path]:
    """``count`` small, distinct transcripts that each yield a moving life event."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}_{number:03d}.txt"
        path.write_text(GOOD_CALL + f"Berater: Notiert, Vorgang {prefix} {number}.\n", encoding="utf-8")
        paths.append(path)
    return paths


# --- the matrix


BAD_TRANSCRIPTS = {
    "empty.txt": (b"", "empty.txt: empty file"),
    "junk.txt": (b"\x00\x01\x02binary\xff" * 50, "junk.txt: binary data (NUL bytes), not a text transcript"),
    "latin1.txt": ("Kunde: Grüße aus Köln".encode("latin-1"), "latin1.txt: not valid UTF-8 (byte 9)"),
    "broken.vtt": (b"WEBVTT\n\n00:00.000 -> 00:01.000\nKunde: Hallo", "broken.vtt: line 4: expected a cue timing"),
    "broken.srt": (b"1\n00:00:01,000 --> 00:00:0x,000\nKunde: Hallo", "broken.srt: line 2: bad timestamp"),
    "broken.json": (b'{"segments": [{"text": "Hallo", "start": 1', "broken.json: line 1: invalid JSON"),
    "random.wav": (np.random.default_rng(7).bytes(8000), "random.wav: cannot decode audio"),
}
GOOD_NAMES = ("a b;rm -rf x $(echo).txt", "Müller Änderung ß.txt", "$(touch pwned).txt", "`touch pwned2`.txt")


def make_inbox(folder: Path, big: bool = True) -> Path:
    folder.mkdir()
    for name, (data, _) in BAD_TRANSCRIPTS.items():
        (folder / name).write_bytes(data)
    for name in GOOD_NAMES:  # distinct content: a call's id is its content hash
        (folder / name).write_text(GOOD_CALL + f"Berater: Notiert unter {name}.\n", encoding="utf-8")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    if big:
        line = "Kunde: Wir haben am Wochenende im Garten gearbeitet und es war schön.\n"
        (folder / "big.txt").write_text(line * (10_000_000 // len(line)), encoding="utf-8")
    return folder


def check_matrix(db: Path, inbox: Path) -> None:
    calls = {Path(path).name: (status, error) for path, status, error in query(db, "SELECT source_path, status, error FROM calls")}
    for name, (_, expected) in BAD_TRANSCRIPTS.items():
        status, error = calls[name]
        assert status == "failed" and error.startswith(expected) and "\n" not in error, (name, error)
    assert calls["big.txt"][0] == "failed" and calls["big.txt"][1].startswith("big.txt: transcript too large (9.7 MiB; the limit is 1 MiB")
    for name in GOOD_NAMES:
        assert calls[name] == ("done", None), name
    assert "notes.docx" not in calls
    assert not (inbox / "pwned").exists() and not (inbox.parent / "pwned").exists()


def test_bad_files_fail_one_by_one_and_the_rest_is_stored(tmp_path):
    inbox = make_inbox(tmp_path / "inbox")
    with Store(tmp_path / "calls.db") as store:
        summary = fake_pipeline(store).run([inbox])
    check_matrix(tmp_path / "calls.db", inbox)
    assert not summary.all_failed
    assert [o.path.name for o in summary.outcomes if o.status == "skipped"] == ["notes.docx"]
    assert query(tmp_path / "calls.db", "SELECT count(*) FROM opportunities")[0][0] >= len(GOOD_NAMES)


def test_an_empty_recording_fails(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with Store(":memory:") as store:
        outcome = fake_pipeline(store).run([tmp_path / "empty.wav"]).outcomes[0]
        assert outcome.status == "failed" and outcome.error.startswith("empty.wav: cannot decode audio")
        assert store.find_call(outcome.call_id)["status"] == "failed"


def test_only_bad_files_means_all_failed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "junk.vtt").write_bytes(b"nonsense")
    with Store(":memory:") as store:
        assert fake_pipeline(store).run([inbox]).all_failed


def test_a_file_removed_mid_run_is_reported_and_the_batch_goes_on(tmp_path):
    paths = write_calls(tmp_path / "inbox", 3)

    def remove_next(outcome):
        if outcome.path == paths[0]:
            paths[1].unlink()

    with Store(":memory:") as store:
        summary = fake_pipeline(store).run([tmp_path / "inbox"], on_file=remove_next)
        assert [o.status for o in summary.outcomes] == ["done", "failed", "done"]
        assert summary.outcomes[1].error == "call_001.txt: No such file or directory"
        assert store.counts()["calls_done"] == 2


def test_a_fifo_with_a_transcript_suffix_does_not_block_the_batch(tmp_path):
    write_calls(tmp_path / "inbox", 1)
    os.mkfifo(tmp_path / "inbox" / "pipe.txt")
    with Store(":memory:") as store:
        outcomes = {o.path.name: o for o in fake_pipeline(store).run([tmp_path / "inbox"]).outcomes}
    assert outcomes["pipe.txt"].status == "failed" and outcomes["pipe.txt"].error == "pipe.txt: not a regular file"
    assert outcomes["call_000.txt"].status == "done"


def test_a_file_that_vanishes_between_read_and_hash_fails_at_read(tmp_path, monkeypatch):
    path = write_calls(tmp_path / "inbox", 1)[0]
    with Store(":memory:") as store:
        pipeline = fake_pipeline(store)
        monkeypatch.setattr(pipeline, "analyse", lambda transcript: (_ for _ in ()).throw(OSError(5, "Input/output error")))
        outcome = pipeline.run([path]).outcomes[0]
        assert outcome.error == "call_000.txt: Input/output error"
        assert store.find_call(outcome.call_id)["status"] == "failed"


def test_transcript_size_limit_is_just_above_a_long_day_of_talk():
    assert MAX_TRANSCRIPT_BYTES == 1 << 20


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from(sorted(TRANSCRIPT_SUFFIXES)))
def test_any_bytes_parse_or_raise_one_line_transcript_error(tmp_path, data, suffix):
    path = tmp_path / f"any{suffix}"
    path.write_bytes(data)
    try:
        parse_transcript(path)
    except TranscriptError as err:
        assert str(err).startswith(f"any{suffix}: ") and "\n" not in str(err)
        assert "\n" not in err.safe_message and err.safe_message.startswith(f"any{suffix}: ")


@pytest.mark.slow
def test_cli_matrix_exit_code_and_rerun(tmp_path):
    inbox = make_inbox(tmp_path / "inbox")
    db = tmp_path / "calls.db"
    first = run_process(tmp_path, inbox, db)
    assert first.returncode == 0, first.stderr
    check_matrix(db, inbox)
    assert "skipped" in first.stderr and "notes.docx" in first.stderr
    counts = query(db, "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM opportunities)")
    again = run_process(tmp_path, inbox, db)
    assert again.returncode == 0
    assert query(db, "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM opportunities)") == counts


@pytest.mark.slow
def test_cli_exits_1_when_every_file_failed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("empty.txt", "junk.txt", "random.wav"):
        (inbox / name).write_bytes(BAD_TRANSCRIPTS[name][0])
    result = run_process(tmp_path, inbox, tmp_path / "calls.db")
    assert result.returncode == 1
    assert query(tmp_path / "calls.db", "SELECT count(*) FROM calls WHERE status = 'failed'") == [(3,)]


@pytest.mark.slow
def test_truncated_and_random_mp3(tmp_path, transcriber):
    full = tmp_path / "full.mp3"
    subprocess.run(["sox", str(ROOT / "fixtures/calls/quilter_en.wav"), str(full)], check=True)
    data = full.read_bytes()
    (tmp_path / "half.mp3").write_bytes(data[: len(data) // 2])
    (tmp_path / "header.mp3").write_bytes(data[:300])
    (tmp_path / "random.mp3").write_bytes(np.random.default_rng(3).bytes(50_000))
    with Store(":memory:") as store:
        pipeline = Pipeline(Config(language="en"), load_catalogue(CATALOGUE), store, transcriber, KeywordExtractor())
        outcomes = {o.path.name: o for o in pipeline.run([tmp_path]).outcomes}
    assert outcomes["half.mp3"].status == "done" and 0 < outcomes["half.mp3"].duration_s < 4
    for name in ("header.mp3", "random.mp3"):
        assert outcomes[name].status == "failed" and outcomes[name].error.startswith(f"{name}: cannot decode audio")
