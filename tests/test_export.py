import csv
import hashlib
import io
import json

import pytest

from callscout.crm import export
from callscout.crm.export import (
    CALL_FIELDS,
    SuffixMismatch,
    UnknownFormat,
    export_formats,
    export_opportunities,
    spreadsheet_safe,
    write_atomically,
)
from callscout.records import CallRecord, CallResult, Opportunity, Segment, Transcript
from callscout.store.database import Store
from callscout.store.rows import call_id_for


def save_call(store, name, evidence="Wir ziehen nach Köln um", products=("home_insurance",), customer="K-7"):
    sha = hashlib.sha256(name.encode()).hexdigest()
    record = CallRecord(
        id=call_id_for(sha), source_path=f"/calls/{name}", source_sha256=sha, status="processing",
        customer_id=customer, account_manager="Jörg Weiß", recorded_at="2024-04-30T09:15:00", catalogue="bank",
    )
    opportunities = [
        Opportunity(product, "Hausrat", "life_event", "relocation", evidence, "customer", 1.0, 3.5, 0.9, "Pitch")
        for product in products
    ]
    transcript = Transcript([Segment("customer", evidence, 1.0, 3.5)], language="de")
    return store.save_call(record, CallResult(transcript, [], opportunities))


@pytest.fixture
def store():
    with Store(":memory:") as store:
        yield store


def opportunity_columns(store):
    return [column.name for column in store.db["opportunities"].columns]


def test_formats_are_registered():
    assert {"jsonl", "csv"} <= set(export_formats())


def test_unknown_format(store, tmp_path):
    with pytest.raises(UnknownFormat, match="jsonl"):
        export_opportunities(store, "salesforce-xml", tmp_path / "out")


def test_jsonl_round_trip(store, tmp_path):
    call_id = save_call(store, "a.wav")
    output = tmp_path / "out" / "opportunities.jsonl"

    assert export_opportunities(store, "jsonl", output) == 1

    text = output.read_text(encoding="utf-8")
    assert "Köln" in text and "Jörg Weiß" in text  # ensure_ascii=False
    [row] = [json.loads(line) for line in text.splitlines()]
    assert list(row) == opportunity_columns(store) + ["opportunity_type"] + [f for f in CALL_FIELDS if f != "customer_id"]
    assert row["call_id"] == call_id and row["source_path"] == "/calls/a.wav"
    assert (row["language"], row["customer_id"], row["recorded_at"]) == ("de", "K-7", "2024-04-30T09:15:00")
    assert row["account_manager"] == "Jörg Weiß"
    assert row["score"] == 0.9 and row["status"] == "open"


def test_csv_round_trip(store, tmp_path):
    save_call(store, "a.wav", products=("home_insurance", "savings_plan"))
    save_call(store, "b.wav", customer="K-8")
    output = tmp_path / "opportunities.csv"

    assert export_opportunities(store, "csv", output) == 3

    with output.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    assert set(rows[0]) == set(opportunity_columns(store)) | {"opportunity_type"} | set(CALL_FIELDS)
    assert rows[0]["evidence"] == "Wir ziehen nach Köln um"
    assert rows[0]["account_manager"] == "Jörg Weiß"
    expected_ids = [row["id"] for row in store.iter_opportunities()]
    assert [row["id"] for row in rows] == expected_ids


@pytest.mark.parametrize("evidence", ["=HYPERLINK(\"http://x\")", "+49 kaufen", "-1+2", "@SUM(A1)", "\tTab", "\rCR"])
def test_csv_neutralises_formulas(store, tmp_path, evidence):
    save_call(store, "a.wav", evidence=evidence)
    output = tmp_path / "o.csv"
    export_opportunities(store, "csv", output)
    with output.open(encoding="utf-8", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["evidence"] == "'" + evidence


def test_jsonl_keeps_text_verbatim(store, tmp_path):
    save_call(store, "a.wav", evidence="=1+1")
    output = tmp_path / "o.jsonl"
    export_opportunities(store, "jsonl", output)
    assert json.loads(output.read_text(encoding="utf-8"))["evidence"] == "=1+1"


def test_spreadsheet_safe_leaves_numbers_and_plain_text():
    assert spreadsheet_safe(-1.5) == -1.5
    assert spreadsheet_safe(None) is None
    assert spreadsheet_safe("Hausrat") == "Hausrat"
    assert spreadsheet_safe("a=b") == "a=b"


def test_empty_store_writes_header_only(store, tmp_path):
    csv_output, jsonl_output = tmp_path / "o.csv", tmp_path / "o.jsonl"
    assert export_opportunities(store, "csv", csv_output) == 0
    assert export_opportunities(store, "jsonl", jsonl_output) == 0
    assert next(csv.reader(io.StringIO(csv_output.read_text(encoding="utf-8"))))[0] == "id"
    assert jsonl_output.read_text(encoding="utf-8") == ""


def test_export_since_watermark(store, tmp_path):
    save_call(store, "a.wav")
    watermark = next(store.iter_opportunities())["updated_at"]
    save_call(store, "b.wav", customer="K-8")  # the same customer would add evidence to a.wav's
    output = tmp_path / "o.jsonl"
    assert export_opportunities(store, "jsonl", output, since=watermark) == 1
    assert json.loads(output.read_text(encoding="utf-8"))["source_path"] == "/calls/b.wav"


def test_failed_export_keeps_previous_file_and_leaves_no_temp(store, tmp_path, monkeypatch):
    save_call(store, "a.wav")
    output = tmp_path / "o.jsonl"
    output.write_text("previous export\n", encoding="utf-8")

    def half_written(rows, fieldnames, handle):
        handle.write("partial")
        raise RuntimeError("interrupted")

    monkeypatch.setitem(export.FORMATTERS, "jsonl", export.Formatter("jsonl", ".jsonl", half_written))
    with pytest.raises(RuntimeError):
        export_opportunities(store, "jsonl", output)

    assert output.read_text(encoding="utf-8") == "previous export\n"
    assert [path.name for path in tmp_path.iterdir()] == ["o.jsonl"]


def test_write_atomically_replaces_existing(tmp_path):
    output = tmp_path / "f.txt"
    output.write_text("old", encoding="utf-8")
    assert write_atomically(output, lambda handle: handle.write("new")) == 3
    assert output.read_text(encoding="utf-8") == "new"


def test_a_new_formatter_plugs_in(store, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "FORMATTERS", dict(export.FORMATTERS))

    @export.formatter("ids", suffix=".txt")
    def write_ids(rows, fieldnames, handle):
        ids = [row["id"] for row in rows]
        handle.write("\n".join(ids))
        return len(ids)

    save_call(store, "a.wav")
    output = tmp_path / "ids.txt"
    assert export_opportunities(store, "ids", output) == 1
    assert output.read_text(encoding="utf-8") == next(store.iter_opportunities())["id"]


@pytest.mark.parametrize(("fmt", "name"), [("csv", "o.xlsx"), ("jsonl", "o.csv"), ("salesforce", "o.txt")])
def test_an_output_suffix_of_another_format_is_refused_before_anything_is_written(store, tmp_path, fmt, name):
    save_call(store, "a.wav")
    with pytest.raises(SuffixMismatch, match=f"does not match --format {fmt}"):
        export_opportunities(store, fmt, tmp_path / "out" / name)
    assert not (tmp_path / "out").exists()
    assert store.db.execute("SELECT count(*) FROM exports").fetchone() == (0,)


def test_a_formatter_s_other_suffixes_are_accepted(store, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "FORMATTERS", dict(export.FORMATTERS))
    export.formatter("ids", suffix=".txt", other_suffixes=(".ids",))(lambda rows, fieldnames, handle: 0)
    assert export_opportunities(store, "ids", tmp_path / "o.IDS") == 0
    with pytest.raises(SuffixMismatch, match=r"\(expected \.txt or \.ids\)"):
        export_opportunities(store, "ids", tmp_path / "o.csv")
