"""``callscout outcomes import``: CRM results read back onto opportunities, bad rows reported
with file and row number, ids never invented, a second import of the same file a no-op."""

from __future__ import annotations

import subprocess
import sys

import pytest

from callscout.crm.mappings import MappingError, load_mapping
from callscout.crm.outcomes import OutcomesError, import_outcomes, parse_amount, parse_day, parse_status
from callscout.store.database import Store
from callscout.store.rows import opportunity_id_for
from tests.test_customers import BABY, CATALOGUE, MOVING, NO_LIFE, opportunities, save, snapshot, ticking_clock


@pytest.fixture
def store():
    with Store(":memory:", clock=ticking_clock()) as store:
        yield store


def ids(store) -> dict[str, str]:
    return {product: row["id"] for product, row in opportunities(store).items()}


def write(tmp_path, text: str, name: str = "crm.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_with_a_bad_row(store, tmp_path):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    opp = ids(store)
    path = write(tmp_path, (
        "opportunity_id,status,amount,closed_date\n"
        f"{opp['hausrat']},won,\"1.234,50\",2024-02-01\n"
        "ffffffffffffffff,lost,,2024-02-01\n"
        f"{opp['haftpflicht']},maybe,,\n"
        f"{opp['haftpflicht']},lost,lots,\n"
        f"{opp['haftpflicht']},lost,,31.02.2024\n"
        "\n"
        f"{opp['haftpflicht']},Closed Lost,,15.02.2024\n"
    ))

    result = import_outcomes(store, path)

    assert (result.rows, result.recorded, result.unchanged) == (6, 2, 0)
    assert result.problems == [
        "crm.csv: row 3: unknown opportunity id 'ffffffffffffffff'",
        "crm.csv: row 4: unknown status 'maybe' (expected won, lost, open, Closed Won, Closed Lost, closedwon, closedlost)",
        "crm.csv: row 5: bad amount 'lots'",
        "crm.csv: row 6: bad closed date '31.02.2024' (expected YYYY-MM-DD)",
    ]
    rows = opportunities(store)
    assert (rows["hausrat"]["status"], rows["hausrat"]["amount"], rows["hausrat"]["closed_at"]) == ("won", 1234.5, "2024-02-01")
    assert (rows["haftpflicht"]["status"], rows["haftpflicht"]["closed_at"]) == ("lost", "2024-02-15")
    assert store.db.execute("SELECT count(*) FROM opportunities WHERE id = 'ffffffffffffffff'").fetchone()[0] == 0
    audit = list(store.db.query("SELECT opportunity_id, status, amount, closed_at, source FROM outcomes ORDER BY id"))
    assert audit == [
        {"opportunity_id": opp["hausrat"], "status": "won", "amount": 1234.5, "closed_at": "2024-02-01", "source": "crm.csv"},
        {"opportunity_id": opp["haftpflicht"], "status": "lost", "amount": None, "closed_at": "2024-02-15", "source": "crm.csv"},
    ]


def test_importing_the_same_file_twice_changes_nothing(store, tmp_path):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    opp = ids(store)
    path = write(tmp_path, (
        "Callscout_Id__c,StageName,Amount,CloseDate\n"
        f"{opp['hausrat']},Prospecting,,\n"
        f"{opp['hausrat']},Closed Won,180,2024-02-01\n"  # the last row for an id counts
        f"{opp['haftpflicht']},Closed Lost,,2024-02-03\n"
    ))
    first = import_outcomes(store, path)
    assert (first.recorded, first.unchanged, first.problems) == (2, 0, [])
    before = snapshot(store)
    updated = store.db.execute("SELECT id, updated_at FROM opportunities ORDER BY id").fetchall()

    again = import_outcomes(store, path)

    assert (again.recorded, again.unchanged, again.problems) == (0, 2, [])
    assert snapshot(store) == before
    assert store.db.execute("SELECT id, updated_at FROM opportunities ORDER BY id").fetchall() == updated


def test_a_changed_outcome_is_recorded_on_top(store, tmp_path):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    hausrat = ids(store)["hausrat"]
    import_outcomes(store, write(tmp_path, f"id,status\n{hausrat},open\n"))
    import_outcomes(store, write(tmp_path, f"id,status,amount,closed_at\n{hausrat},closedwon,99,2024-03-01\n", "later.csv"))
    assert [r["status"] for r in store.db.query("SELECT status FROM outcomes ORDER BY id")] == ["open", "won"]
    assert opportunities(store)["hausrat"]["status"] == "won"


def test_outcomes_survive_the_call_being_saved_again(store, tmp_path):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    hausrat = ids(store)["hausrat"]
    import_outcomes(store, write(tmp_path, f"callscout_id,Deal stage,Amount,Close date\n{hausrat},closedwon,180,2024-02-01\n"))
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    row = opportunities(store)["hausrat"]
    assert (row["status"], row["amount"], row["closed_at"]) == ("won", 180, "2024-02-01")


def test_a_lost_outcome_holds_the_product_back(store, tmp_path):
    first = save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    import_outcomes(store, write(tmp_path, f"id;status;closed\n{opportunity_id_for(first, 'hausrat', CATALOGUE.name)};lost;2024-02-01\n"))
    save(store, "b.txt", "K-1", "2024-03-01T09:00:00", MOVING, NO_LIFE, BABY)
    held = {p: r["held_reason"] for p, r in opportunities(store, status="held").items()}
    assert held["hausrat"].startswith("crm_lost: lost in the CRM on 2024-02-01")


def test_mapping_names_columns_and_stages(store, tmp_path):
    save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
    hausrat = ids(store)["hausrat"]
    mapping = write(tmp_path, "outcomes:\n  columns: {opportunity_id: Deal Key, status: Phase}\n  statuses: {Abgeschlossen: won}\n",
                    "mapping.yaml")
    path = write(tmp_path, f"Deal Key,Phase,Amount\n{hausrat},abgeschlossen,\"1,500\"\n")
    result = import_outcomes(store, path, load_mapping(mapping))
    assert (result.recorded, result.problems) == (1, [])
    assert (opportunities(store)["hausrat"]["status"], opportunities(store)["hausrat"]["amount"]) == ("won", 1500)
    bad = write(tmp_path, "outcomes:\n  statuses: {Abgeschlossen: gewonnen}\n", "bad.yaml")
    with pytest.raises(MappingError, match="'outcomes.statuses.abgeschlossen' must be one of won, lost, open"):
        load_mapping(bad)


def test_a_file_without_an_id_column_is_refused(store, tmp_path):
    with pytest.raises(OutcomesError, match="crm.csv: no opportunity_id column"):
        import_outcomes(store, write(tmp_path, "name,status\nx,won\n"))


@pytest.mark.parametrize("text, status", [
    ("won", "won"), ("WON", "won"), ("Closed Won", "won"), ("closedwon", "won"), ("closed-lost", "lost"),
    ("ClosedLost", "lost"), ("Lost", "lost"), (" open ", "open"),
])
def test_status_spellings(text, status):
    assert parse_status(text) == status


def test_amounts_and_days():
    assert [parse_amount(t) for t in ("", "99", "1,234.50", "1.234,50", "EUR 99,90", "€ 1.200", "12.5")] == [
        None, 99, 1234.5, 1234.5, 99.9, 1200, 12.5,
    ]
    for bad in ("-5", "nan", "inf", "1,2,3x"):
        with pytest.raises(ValueError):
            parse_amount(bad)
    assert [parse_day(t) for t in ("", "2024-05-01", "2024-05-01T23:00:00Z", "01.05.2024", "2024/05/01")] == [
        None, "2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01",
    ]


def callscout(*args):
    return subprocess.run([sys.executable, "-m", "callscout", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_cli_import_reports_bad_rows_and_exits_non_zero_only_when_nothing_was_imported(tmp_path):
    db = tmp_path / "calls.db"
    with Store(db) as store:
        save(store, "a.txt", "K-1", "2024-01-10T09:00:00", MOVING)
        hausrat = ids(store)["hausrat"]
    good = write(tmp_path, f"opportunity_id,status,amount\n{hausrat},won,180\nnope,won,1\n", "good.csv")

    result = callscout("outcomes", "import", good, "--db", db)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "skipped good.csv: row 3: unknown opportunity id 'nope'",
        "good.csv: 1 outcomes recorded, 0 unchanged, 1 rows skipped",
    ]
    again = callscout("outcomes", "import", good, "--db", db)
    assert again.returncode == 0 and "0 outcomes recorded, 1 unchanged, 1 rows skipped" in again.stderr

    bad = write(tmp_path, "opportunity_id,status\nnope,won\n", "bad.csv")
    failed = callscout("outcomes", "import", bad, "--db", db)
    assert failed.returncode == 1 and "bad.csv: row 2: unknown opportunity id 'nope'" in failed.stderr

    refused = callscout("outcomes", "import", write(tmp_path, "a,b\n1,2\n", "odd.csv"), "--db", db)
    assert (refused.returncode, refused.stderr.strip().splitlines()[-1]) == (
        2, "error: odd.csv: no opportunity_id column (looked for 'opportunity_id' or 'callscout_id' or 'callscout_id__c' or 'external_id')",
    )
    missing = callscout("outcomes", "import", tmp_path / "nope.csv", "--db", db)
    assert (missing.returncode, missing.stderr.strip()) == (2, f"error: {tmp_path / 'nope.csv'}: no such file")
