"""Salesforce and HubSpot import files, mapping files, --since-last and CSV injection."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from datetime import date, timedelta

import pytest

from callscout.crm.export import FORMULA_PREFIXES, ExportResult, export_opportunities, export_target, run_export
from callscout.crm.mappings import MappingError, load_mapping
from callscout.records import CallRecord, CallResult, Opportunity, Segment, Signal, Transcript
from callscout.store.database import Store
from callscout.store.rows import call_id_for

SF_COLUMNS = [
    "Callscout_Id__c", "Name", "StageName", "CloseDate", "Account.Customer_Id__c", "Amount", "Description", "LeadSource",
    "Type", "OwnerId",
]
SF_TASK_COLUMNS = ["Opportunity:What.Callscout_Id__c", "Subject", "Description", "ActivityDate", "Status"]
HS_COLUMNS = [
    "callscout_id", "Deal name", "Pipeline", "Deal stage", "Amount", "Close date", "Deal description", "Customer ID",
    "Opportunity type", "Deal owner",
]
HS_NOTE_COLUMNS = ["callscout_id", "Activity date", "Note body"]


def save_call(
    store, name, evidence="Wir haben letzten Monat geheiratet", customer="K-7", products=("hausrat",), manager="Jörg Weiß"
):
    sha = hashlib.sha256(name.encode()).hexdigest()
    record = CallRecord(
        id=call_id_for(sha), source_path=f"/calls/{name}", source_sha256=sha, status="processing", customer_id=customer,
        account_manager=manager, recorded_at="2026-11-02T10:15:00", catalogue="finanz", duration_s=93.0,
    )
    signal = Signal("life_event", "marriage", evidence, "customer", 21.0, 24.0, 0.9, 0)
    opportunities = [
        Opportunity(p, "Hausratversicherung", "life_event", "marriage", evidence, "customer", 21.0, 24.0, 0.9, "Zur Ehe passt…")
        for p in products
    ]
    transcript = Transcript([Segment("customer", evidence, 21.0, 24.0)], language="de", duration_s=93.0)
    return store.save_call(record, CallResult(transcript, [signal], opportunities))


def read(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def read_dicts(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def callscout(*args):
    """The real CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "callscout", *map(str, args)], capture_output=True, text=True, timeout=120)


def exports_recorded(db):
    with Store(db) as store:
        return store.db.execute("SELECT count(*) FROM exports").fetchone()[0]


@pytest.fixture
def store():
    with Store(":memory:") as store:
        yield store


def created_day(store) -> date:
    return date.fromisoformat(next(store.iter_opportunities())["created_at"][:10])


def test_salesforce_opportunities_and_tasks(store, tmp_path):
    save_call(store, "a.txt")
    output = tmp_path / "sf.csv"

    assert export_opportunities(store, "salesforce", output) == 1

    [header, row] = read(output)
    assert header == SF_COLUMNS
    opp = dict(zip(header, row))
    opportunity_id = next(store.iter_opportunities())["id"]
    assert opp["Callscout_Id__c"] == opportunity_id
    assert opp["Name"] == "Hausratversicherung – K-7"
    assert (opp["StageName"], opp["LeadSource"], opp["Amount"]) == ("Prospecting", "Phone Inquiry", "")
    assert opp["CloseDate"] == (created_day(store) + timedelta(days=30)).isoformat()
    assert opp["Account.Customer_Id__c"] == "K-7"
    assert opp["OwnerId"] == "Jörg Weiß"  # the call's account manager
    assert "Trigger: life event 'marriage'" in opp["Description"]
    assert 'Evidence [00:00:21] customer: "Wir haben letzten Monat geheiratet"' in opp["Description"]
    assert "Pitch: Zur Ehe passt…" in opp["Description"]

    [task] = read_dicts(tmp_path / "sf_tasks.csv")
    assert list(task) == SF_TASK_COLUMNS
    assert task["Opportunity:What.Callscout_Id__c"] == opportunity_id
    assert task["Subject"] == "Follow up: Hausratversicherung"
    assert task["Status"] == "Not Started"
    assert task["ActivityDate"] == (created_day(store) + timedelta(days=7)).isoformat()
    assert "a.txt, recorded 2026-11-02T10:15:00, 1.6 min, language de, account manager Jörg Weiß" in task["Description"]
    assert "Customer mentioned: life event: marriage" in task["Description"]


def test_hubspot_deals_and_notes(store, tmp_path):
    save_call(store, "a.txt")
    output = tmp_path / "deals.csv"

    assert export_opportunities(store, "hubspot", output) == 1

    [deal] = read_dicts(output)
    assert list(deal) == HS_COLUMNS
    assert (deal["Pipeline"], deal["Deal stage"], deal["Amount"]) == ("default", "appointmentscheduled", "")
    assert deal["Close date"] == (created_day(store) + timedelta(days=30)).isoformat()
    assert deal["Customer ID"] == "K-7"
    assert deal["Deal owner"] == "Jörg Weiß"
    [note] = read_dicts(tmp_path / "deals_notes.csv")
    assert list(note) == HS_NOTE_COLUMNS
    assert note["callscout_id"] == deal["callscout_id"]
    assert note["Activity date"] == "2026-11-02"
    assert "Wir haben letzten Monat geheiratet" in note["Note body"]


def test_crm_csvs_are_plain_utf8_with_lf(store, tmp_path):
    save_call(store, "ä.txt", evidence="Größere Wohnung, \"endlich\", mit Garten")
    output = tmp_path / "sf.csv"
    export_opportunities(store, "salesforce", output)
    raw = output.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in raw
    [row] = read_dicts(output)
    assert 'customer: "Größere Wohnung, "endlich", mit Garten"' in row["Description"]  # quoted, read back whole


def test_mapping_file_renames_drops_and_sets_values(store, tmp_path):
    save_call(store, "a.txt")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "salesforce:\n"
        "  opportunity:\n"
        "    External ID: CS_Key__c\n"
        "    account: AccountId\n"
        "    lead_source: null\n"
        "    owner: Owner.Username\n"
        "  values: {stage: Qualification, close_days: 10}\n"
        "amounts:\n"
        "  hausrat: 180\n",
        encoding="utf-8",
    )
    output = tmp_path / "sf.csv"
    export_opportunities(store, "salesforce", output, mapping=load_mapping(mapping))

    [opp] = read_dicts(output)
    assert list(opp) == [
        "CS_Key__c", "Name", "StageName", "CloseDate", "AccountId", "Amount", "Description", "Type", "Owner.Username",
    ]
    assert (opp["StageName"], opp["Amount"], opp["AccountId"]) == ("Qualification", "180", "K-7")
    assert opp["Owner.Username"] == "Jörg Weiß"
    assert opp["CloseDate"] == (created_day(store) + timedelta(days=10)).isoformat()
    [task] = read_dicts(tmp_path / "sf_tasks.csv")
    assert task["Opportunity:What.CS_Key__c"] == opp["CS_Key__c"]


def test_toml_mapping_for_hubspot(store, tmp_path):
    save_call(store, "a.txt")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[hubspot.deal]\nexternal_id = "cs_deal_key"\ncustomer = ""\nowner = ""\n[hubspot.values]\npipeline = "cross-sell"\n',
        encoding="utf-8",
    )
    output = tmp_path / "deals.csv"
    export_opportunities(store, "hubspot", output, mapping=load_mapping(mapping))
    [deal] = read_dicts(output)
    assert "Customer ID" not in deal and "Deal owner" not in deal and deal["Pipeline"] == "cross-sell"
    [note] = read_dicts(tmp_path / "deals_notes.csv")
    assert note["cs_deal_key"] == deal["cs_deal_key"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("salesforce:\n  opportunity:\n    colour: Farbe__c\n", "unknown key 'salesforce.opportunity.colour'"),
        ("zoho: {}\n", "unknown key 'zoho'"),
        ("salesforce:\n  values: {close_days: soon}\n", "'salesforce.values.close_days' must be a whole number"),
        ("salesforce:\n  opportunity:\n    name: 3\n", "column 'salesforce.opportunity.name' must be a name"),
        ("amounts: {hausrat: viel}\n", "'amounts.hausrat' must be a number"),
        ("- a\n- b\n", "expected a table"),
        ("salesforce: [\n", "not a valid mapping file"),
    ],
)
def test_bad_mapping_files_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match="m.yaml: ") as info:
        load_mapping(path)
    assert message in str(info.value)


@pytest.mark.parametrize("fmt", ["salesforce", "hubspot", "csv", "jsonl"])
def test_since_last_exports_only_what_is_new_for_that_target(store, tmp_path, fmt):
    save_call(store, "a.txt")
    output = tmp_path / f"out.{'jsonl' if fmt == 'jsonl' else 'csv'}"
    assert export_opportunities(store, fmt, output) == 1
    save_call(store, "b.txt", customer="K-8")

    assert export_opportunities(store, fmt, output, since_last=True) == 1
    assert export_opportunities(store, fmt, output, since_last=True) == 0
    assert export_opportunities(store, fmt, tmp_path / "elsewhere" / output.name, since_last=True) == 2
    assert export_opportunities(store, fmt, output) == 2  # everything, without the flag


def test_since_last_writes_the_new_ones_and_leaves_the_files_alone_when_none(store, tmp_path):
    save_call(store, "a.txt")
    output = tmp_path / "sf.csv"
    export_opportunities(store, "salesforce", output)
    new_call = save_call(store, "b.txt", customer="K-8")
    export_opportunities(store, "salesforce", output, since_last=True)
    [row] = read_dicts(output)
    assert row["Account.Customer_Id__c"] == "K-8"
    assert [r["Opportunity:What.Callscout_Id__c"] for r in read_dicts(tmp_path / "sf_tasks.csv")] == [
        r["id"] for r in store.iter_opportunities() if r["call_id"] == new_call
    ]
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert run_export(store, "salesforce", output, since_last=True) == ExportResult(0, written=False)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before  # not yet imported, kept
    assert store.db.execute("SELECT count(*) FROM exports").fetchone() == (2,)  # the third recorded nothing


def test_a_resaved_unchanged_call_is_not_new(store, tmp_path):
    save_call(store, "a.txt")
    output = tmp_path / "o.csv"
    export_opportunities(store, "csv", output)
    save_call(store, "a.txt")  # processed again: updated_at moves, the opportunity id does not
    assert export_opportunities(store, "csv", output, since_last=True) == 0


def test_exports_are_recorded_per_target(store, tmp_path):
    save_call(store, "a.txt", products=("hausrat", "risikoleben"))
    output = tmp_path / "o.csv"
    export_opportunities(store, "hubspot", output)
    target = export_target("hubspot", output)
    assert store.db.execute("SELECT target, count FROM exports").fetchall() == [(target, 2)]
    assert store.db.execute("SELECT count(*) FROM export_items WHERE target = ?", [target]).fetchone() == (2,)


FORMULAS = ["=SUM(A1:A9)", "@cmd", "+49 170", "-2+3", "\tTab", "\rCR"]


@pytest.mark.parametrize("fmt", ["salesforce", "hubspot", "csv"])
@pytest.mark.parametrize("formula", FORMULAS)
def test_no_csv_cell_starts_a_formula(store, tmp_path, fmt, formula):
    save_call(store, "a.txt", evidence=formula, customer=formula)
    output = tmp_path / "o.csv"
    export_opportunities(store, fmt, output)
    companions = {"salesforce": ["o_tasks.csv"], "hubspot": ["o_notes.csv"], "csv": []}[fmt]
    for path in [output, *(tmp_path / name for name in companions)]:
        cells = [cell for row in read(path) for cell in row]
        assert not [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)], path.name
        assert "'" + formula in cells or fmt != "csv"


def test_cli_export_salesforce_with_mapping_and_since_last(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from callscout.cli.commands import app

    db = tmp_path / "calls.db"
    with Store(db) as store:
        save_call(store, "a.txt")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("salesforce:\n  values: {stage: Qualification}\n", encoding="utf-8")
    output = tmp_path / "sf.csv"
    args = ["export", "--db", str(db), "--format", "salesforce", "--output", str(output), "--mapping", str(mapping)]

    first = CliRunner().invoke(app, args)
    again = CliRunner().invoke(app, [*args, "--since-last"])

    assert first.exit_code == 0 and "wrote 1 opportunities" in first.output
    assert again.exit_code == 0 and "nothing new since the last export" in again.output
    assert read(output)[0] == SF_COLUMNS and len(read(output)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "zoho"], "unknown export format 'zoho'"),
        (["--format", "csv", "--mapping", "{mapping}"], "--mapping applies to salesforce and hubspot"),
        (["--format", "hubspot", "--mapping", "{mapping}"], "unknown key 'zoho'"),
    ],
)
def test_cli_export_errors(tmp_path, args, message):
    from typer.testing import CliRunner

    from callscout.cli.commands import app

    db = tmp_path / "calls.db"
    Store(db).close()
    mapping = tmp_path / "m.yaml"
    mapping.write_text("zoho: {}\n", encoding="utf-8")
    args = [arg.format(mapping=mapping) for arg in args]
    result = CliRunner().invoke(app, ["export", "--db", str(db), "--output", str(tmp_path / "o.csv"), *args])
    assert result.exit_code == 2
    assert message in result.output


# through the real CLI (issue 19)


@pytest.mark.parametrize(("fmt", "name"), [("salesforce", "sf.csv"), ("hubspot", "deals.csv"), ("jsonl", "o.jsonl")])
def test_cli_since_last_with_nothing_new_leaves_the_previous_files_alone(tmp_path, fmt, name):
    db, out = tmp_path / "calls.db", tmp_path / "out"
    with Store(db) as store:
        save_call(store, "a.txt")
    output = out / name
    assert callscout("export", "--db", db, "--format", fmt, "--output", output, "--since-last").returncode == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    again = callscout("export", "--db", db, "--format", fmt, "--output", output, "--since-last")

    assert again.returncode == 0, again.stderr
    assert again.stderr.strip() == f"nothing new since the last export to {output}; {output} left as it is"
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # the companion too
    assert exports_recorded(db) == 1


def test_cli_since_last_with_nothing_to_export_writes_no_file(tmp_path):
    db, output = tmp_path / "calls.db", tmp_path / "out" / "sf.csv"
    Store(db).close()
    result = callscout("export", "--db", db, "--format", "salesforce", "--output", output, "--since-last")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"nothing new since the last export to {output}; nothing written"
    assert not output.parent.exists() and exports_recorded(db) == 0


@pytest.mark.parametrize(
    ("args", "name", "expected"),
    [
        (["--format", "csv"], "opps.xlsx", ".csv"),
        (["--format", "csv"], "opps.jsonl", ".csv"),
        ([], "opps.csv", ".jsonl or .ndjson"),  # jsonl, the default
        (["--format", "jsonl"], "opps.json", ".jsonl or .ndjson"),  # JSON Lines is not one JSON document
        (["--format", "salesforce"], "sf.jsonl", ".csv"),
        (["--format", "hubspot"], "deals.xlsx", ".csv"),
    ],
)
def test_cli_refuses_an_output_suffix_that_contradicts_the_format(tmp_path, args, name, expected):
    db, out = tmp_path / "calls.db", tmp_path / "out"
    with Store(db) as store:
        save_call(store, "a.txt")
    output = out / name
    result = callscout("export", "--db", db, *args, "--output", output)
    fmt = args[1] if args else "jsonl"
    suffix = output.suffix
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: --output {output}: suffix '{suffix}' does not match --format {fmt} (expected {expected})"
    )
    assert not out.exists() and exports_recorded(db) == 0


@pytest.mark.parametrize(
    ("fmt", "name"), [("jsonl", "o.ndjson"), ("jsonl", "opportunities"), ("csv", "O.CSV"), ("hubspot", "deals")]
)
def test_cli_accepts_the_format_s_suffixes_and_none(tmp_path, fmt, name):
    db, output = tmp_path / "calls.db", tmp_path / name
    with Store(db) as store:
        save_call(store, "a.txt")
    result = callscout("export", "--db", db, "--format", fmt, "--output", output)
    assert result.returncode == 0, result.stderr
    assert output.is_file()


@pytest.mark.parametrize(("fmt", "account"), [("salesforce", "Account.Customer_Id__c"), ("hubspot", "Customer ID")])
def test_cli_crm_files_leave_out_calls_without_a_customer_id(tmp_path, fmt, account):
    db, output = tmp_path / "calls.db", tmp_path / "crm.csv"
    with Store(db) as store:
        save_call(store, "a.txt")
        save_call(store, "b.txt", customer=None)
        save_call(store, "c.txt", customer="")
    args = ["export", "--db", db, "--format", fmt, "--output", output, "--since-last"]

    first = callscout(*args)

    assert first.returncode == 0, first.stderr
    assert first.stderr.strip() == (
        f"wrote 1 opportunities to {output}; 2 opportunities without a customer id left out"
        " (--include-unassigned to export them)"
    )
    assert [row[account] for row in read_dicts(output)] == ["K-7"]
    assert len(read_dicts(output.with_name(output.stem + ("_tasks.csv" if fmt == "salesforce" else "_notes.csv")))) == 1

    with Store(db) as store:
        save_call(store, "b.txt", customer="K-9")  # processed again, now with its customer id
    later = callscout(*args)
    assert later.returncode == 0, later.stderr
    assert [row[account] for row in read_dicts(output)] == ["K-9"]  # not marked exported before: sent now
    assert "1 opportunities without a customer id left out" in later.stderr

    everything = callscout(*args[:-1], "--include-unassigned")
    assert everything.returncode == 0 and "without a customer id" not in everything.stderr
    assert sorted(row[account] for row in read_dicts(output)) == ["", "K-7", "K-9"]


def test_cli_csv_and_jsonl_keep_calls_without_a_customer_id(tmp_path):
    db = tmp_path / "calls.db"
    with Store(db) as store:
        save_call(store, "a.txt", customer=None)
    for name in ("o.csv", "o.jsonl"):
        result = callscout("export", "--db", db, "--format", name[2:], "--output", tmp_path / name)
        assert result.stderr.strip() == f"wrote 1 opportunities to {tmp_path / name}"


def test_cli_account_manager_is_the_mappable_owner_column(tmp_path):
    db = tmp_path / "calls.db"
    with Store(db) as store:
        save_call(store, "a.txt")
        save_call(store, "b.txt", customer="K-8", manager=None)
    sf, hs = tmp_path / "sf.csv", tmp_path / "hs.csv"
    assert callscout("export", "--db", db, "--format", "salesforce", "--output", sf).returncode == 0
    assert [(row["Account.Customer_Id__c"], row["OwnerId"]) for row in read_dicts(sf)] == [("K-7", "Jörg Weiß"), ("K-8", "")]
    assert callscout("export", "--db", db, "--format", "hubspot", "--output", hs).returncode == 0
    assert [row["Deal owner"] for row in read_dicts(hs)] == ["Jörg Weiß", ""]

    mapping = tmp_path / "m.yaml"
    mapping.write_text("salesforce:\n  opportunity: {owner: Owner.Username}\nhubspot:\n  deal: {owner: null}\n", encoding="utf-8")
    for fmt, output in (("salesforce", sf), ("hubspot", hs)):
        result = callscout("export", "--db", db, "--format", fmt, "--output", output, "--mapping", mapping)
        assert result.returncode == 0, result.stderr
    assert read(sf)[0] == [*SF_COLUMNS[:-1], "Owner.Username"] and read_dicts(sf)[0]["Owner.Username"] == "Jörg Weiß"
    assert read(hs)[0] == HS_COLUMNS[:-1]
