"""The `callscout` command in a subprocess, on real files, read back from the SQLite file."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES

CATALOGUE = FIXTURES / "catalogues" / "finanz.yaml"


def callscout(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "callscout", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


def rows(db, sql, *params):
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute(sql, params)]


def snapshot(db):
    tables = ("calls", "segments", "signals", "opportunities")
    return {t: rows(db, f"SELECT * FROM {t} ORDER BY id") for t in tables}


@pytest.fixture
def call_folder(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("stereo_umzug.wav", "azure_de_testing.wav", "quilter_en.wav", "kunde_hochzeit.txt", "kunde_hochzeit.meta.json"):
        shutil.copy(FIXTURES / "calls" / name, folder / name)
    return folder


@pytest.mark.slow
def test_process_folder_stores_calls_with_languages_roles_and_opportunities(tmp_path, call_folder):
    db = tmp_path / "store.db"
    result = callscout("process", call_folder, "--catalogue", CATALOGUE, "--db", db)
    assert result.returncode == 0, result.stderr

    calls = {r["source_path"].rsplit("/", 1)[-1]: r for r in rows(db, "SELECT * FROM calls")}
    assert set(calls) == {"stereo_umzug.wav", "azure_de_testing.wav", "quilter_en.wav", "kunde_hochzeit.txt"}
    assert {name: c["language"] for name, c in calls.items()} == {
        "stereo_umzug.wav": "en", "azure_de_testing.wav": "de", "quilter_en.wav": "en", "kunde_hochzeit.txt": "de",
    }
    assert all(c["status"] == "done" for c in calls.values())
    assert calls["kunde_hochzeit.txt"]["customer_id"] == "K-1001"

    def speakers(name):
        return {r["speaker"] for r in rows(db, "SELECT speaker FROM segments WHERE call_id = ?", calls[name]["id"])}

    assert speakers("stereo_umzug.wav") == {"agent", "customer"}
    assert speakers("azure_de_testing.wav") == {"unknown"}
    assert speakers("kunde_hochzeit.txt") == {"agent", "customer"}

    def products(name):
        return {r["product_id"] for r in rows(db, "SELECT product_id FROM opportunities WHERE call_id = ?", calls[name]["id"])}

    # Married last month and moved; the Haftpflicht is already held.
    assert products("kunde_hochzeit.txt") == {"hausrat", "risikoleben"}
    # The stereo call: the customer (right channel) is moving next month and got married.
    assert {"hausrat", "haftpflicht"} <= products("stereo_umzug.wav")
    assert products("azure_de_testing.wav") == set() and products("quilter_en.wav") == set()
    customer_evidence = rows(db, "SELECT speaker, start_s, evidence FROM opportunities WHERE call_id = ?", calls["stereo_umzug.wav"]["id"])
    assert all(o["speaker"] == "customer" and o["start_s"] is not None and o["evidence"] for o in customer_evidence)

    before = snapshot(db)
    again = callscout("process", call_folder, "--catalogue", CATALOGUE, "--db", db)
    assert again.returncode == 0 and "unchanged: 4" in again.stderr
    assert snapshot(db) == before

    out = tmp_path / "opps.jsonl"
    exported = callscout("export", "--db", db, "--format", "jsonl", "--output", out)
    assert exported.returncode == 0, exported.stderr
    objects = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(objects) == len(rows(db, "SELECT id FROM opportunities"))
    assert all(o["product_id"] and o["evidence"] for o in objects)


def test_transcripts_only_run_with_fast_encoder(tmp_path, call_folder):
    db = tmp_path / "store.db"
    result = callscout("process", call_folder / "kunde_hochzeit.txt", "--catalogue", CATALOGUE, "--db", db,
                       env={"CALLSCOUT_ENCODER": "hashing"})
    assert result.returncode == 0, result.stderr
    (call,) = rows(db, "SELECT * FROM calls")
    assert call["language"] == "de" and call["customer_id"] == "K-1001"
    events = {r["label"] for r in rows(db, "SELECT label FROM signals WHERE kind = 'life_event'")}
    assert {"marriage", "moving"} <= events
    shown = callscout("show", call["id"], "--db", db)
    assert shown.returncode == 0 and "Kunde" not in shown.stdout.split("\n")[0]
    assert "life_event: marriage" in shown.stdout and "Risikolebensversicherung" in shown.stdout


@pytest.mark.slow
def test_verbose_logs_each_calls_stages_to_stderr_without_its_text_or_other_libraries_chatter(tmp_path, call_folder):
    db = tmp_path / "store.db"
    result = callscout("process", call_folder / "kunde_hochzeit.txt", "--catalogue", CATALOGUE, "--db", db, "-v",
                       env={"CALLSCOUT_ENCODER": "hashing", "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (line,) = [line for line in result.stderr.splitlines() if "kunde_hochzeit.txt: read" in line]
    assert "read 10 segments, language de" in line and "6 signals and 4 opportunities" in line
    assert "Created vocabulary" not in result.stderr  # spaCy's own INFO lines
    text = (call_folder / "kunde_hochzeit.txt").read_text(encoding="utf-8")
    assert not any(turn.split(": ", 1)[-1].strip()[:30] in result.stderr for turn in text.splitlines() if len(turn) > 40)
    quiet = callscout("process", call_folder / "kunde_hochzeit.txt", "--catalogue", CATALOGUE, "--db", tmp_path / "q.db",
                      env={"CALLSCOUT_ENCODER": "hashing", "COLUMNS": "250"})
    assert quiet.returncode == 0 and ": read " not in quiet.stderr


def test_missing_input_and_broken_catalogue_are_one_line_errors(tmp_path):
    missing = callscout("process", tmp_path / "nope", "--catalogue", CATALOGUE, "--db", tmp_path / "x.db")
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "nope" in missing.stderr
    broken = tmp_path / "bad.yaml"
    broken.write_text("catalogue: x\nproducts: [{id: a, name: A, triggers: {life_events: [moon]}}]\n")
    result = callscout("process", FIXTURES / "calls" / "kunde_hochzeit.txt", "--catalogue", broken, "--db", tmp_path / "x.db")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {broken}: product 'a', field 'triggers.life_events': unknown life event id 'moon' (did you mean 'moving'?)"


def test_models_list_and_help_are_fast_and_offline():
    listed = callscout("models", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("whisper-base\t")
    for command in ("process", "export", "show", "eval", "models", "catalogue"):
        shown = callscout(command, "--help")
        assert shown.returncode == 0 and "Usage" in shown.stdout, command
