import os
import re
from pathlib import Path

from sqlite_utils import Database

from callscout.store.database import Store
from callscout.store.migrations import MIGRATIONS_TABLE, apply_migrations, migrations, schema_sql

GOLDEN_SCHEMA = Path(__file__).with_name("golden_schema.sql")


def applied_names(db):
    return [row["name"] for row in db.query(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY id")]


def test_fresh_store_matches_golden_schema():
    """Regenerate after adding a migration: UPDATE_GOLDEN=1 pytest tests/test_migrations.py"""
    with Store(":memory:") as store:
        schema = schema_sql(store.db)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_SCHEMA.write_text(schema, encoding="utf-8")
    assert schema == GOLDEN_SCHEMA.read_text(encoding="utf-8")


def test_migration_names_are_numbered_and_append_only():
    names = [migration.name for migration in migrations._migrations]
    assert names[0] == "001_initial"
    assert all(re.fullmatch(r"\d{3}_[a-z0-9_]+", name) for name in names)
    assert [int(name[:3]) for name in names] == list(range(1, len(names) + 1))


def test_reopening_runs_no_migration_twice(tmp_path):
    path = tmp_path / "calls.db"
    Store(path).close()
    with Store(path) as store:
        assert applied_names(store.db) == [migration.name for migration in migrations._migrations]
        assert apply_migrations(store.db) == []
        assert migrations.pending(store.db) == []


def test_reopen_keeps_data_and_schema(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as store:
        first_schema = schema_sql(store.db)
        store.db.execute(
            "INSERT INTO calls (id, source_path, source_sha256, status) VALUES (?, ?, ?, ?)",
            ["abc", "/a.wav", "abc" + "0" * 61, "done"],
        )
    with Store(path) as store:
        assert schema_sql(store.db) == first_schema
        assert store.counts()["calls"] == 1


def test_migrations_apply_to_a_plain_existing_database(tmp_path):
    path = tmp_path / "legacy.db"
    Database(path)["notes"].insert({"id": 1, "text": "unrelated"}, pk="id")
    with Store(path) as store:
        assert store.db["notes"].count == 1
        assert {"calls", "segments", "signals", "opportunities", "exports"} <= set(store.db.table_names())
