"""Append-only, named schema migrations, applied every time a store opens.

Never edit or reorder a released migration: add ``002_...`` below the last one and
regenerate ``tests/golden_schema.sql`` (``UPDATE_GOLDEN=1 pytest tests/test_migrations.py``).
Applied names are recorded by sqlite-utils in ``_sqlite_migrations``.
"""

from __future__ import annotations

import logging

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

logger = logging.getLogger("callscout")

MIGRATION_SET = "callscout"
MIGRATIONS_TABLE = Migrations.migrations_table

migrations = Migrations(MIGRATION_SET)

_INITIAL_SCHEMA = (
    """CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'processing')),
    customer_id TEXT,
    account_manager TEXT,
    recorded_at TEXT,
    language TEXT,
    language_probability REAL,
    duration_s REAL,
    catalogue TEXT,
    model TEXT,
    error TEXT,
    processed_at TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0 CHECK (sensitive IN (0, 1))
)""",
    "CREATE UNIQUE INDEX idx_calls_source_sha256 ON calls (source_sha256)",
    "CREATE INDEX idx_calls_source_path ON calls (source_path)",
    """CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    speaker_label TEXT,
    start_s REAL,
    end_s REAL,
    text TEXT NOT NULL
)""",
    "CREATE INDEX idx_segments_call_id ON segments (call_id)",
    """CREATE TABLE signals (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    evidence TEXT,
    speaker TEXT,
    start_s REAL,
    end_s REAL,
    confidence REAL,
    segment_idx INTEGER
)""",
    "CREATE INDEX idx_signals_call_id ON signals (call_id)",
    """CREATE TABLE opportunities (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    customer_id TEXT,
    catalogue TEXT,
    product_id TEXT NOT NULL,
    product_name TEXT,
    trigger_kind TEXT,
    trigger_label TEXT,
    evidence TEXT,
    speaker TEXT,
    start_s REAL,
    end_s REAL,
    score REAL,
    pitch TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    sensitive_call INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_opportunities_call_id ON opportunities (call_id)",
    "CREATE INDEX idx_opportunities_customer_id ON opportunities (customer_id)",
    "CREATE INDEX idx_opportunities_product_id ON opportunities (product_id)",
    "CREATE INDEX idx_opportunities_updated_at ON opportunities (updated_at)",
    """CREATE TABLE exports (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    exported_at TEXT NOT NULL,
    count INTEGER NOT NULL
)""",
    "CREATE INDEX idx_exports_target ON exports (target, exported_at)",
)


@migrations(name="001_initial")
def m001_initial(db: Database) -> None:
    for statement in _INITIAL_SCHEMA:
        db.execute(statement)


_EXPORT_ITEMS = (
    """CREATE TABLE export_items (
    target TEXT NOT NULL,
    opportunity_id TEXT NOT NULL,
    export_id INTEGER NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    PRIMARY KEY (target, opportunity_id)
)""",
    "CREATE INDEX idx_export_items_export_id ON export_items (export_id)",
)


@migrations(name="002_export_items")
def m002_export_items(db: Database) -> None:
    """Which opportunities each export target (format + output path) has already received.

    No foreign key to ``opportunities``: the store deletes and re-inserts a call's
    opportunities when it is saved again, and that must not wipe the export history.
    """
    for statement in _EXPORT_ITEMS:
        db.execute(statement)


@migrations(name="003_calls_purged_at")
def m003_calls_purged_at(db: Database) -> None:
    """When ``purge`` deleted a call's transcript (data minimisation); NULL while it is kept."""
    db.execute("ALTER TABLE calls ADD COLUMN purged_at TEXT")


_CUSTOMER_MEMORY = (
    # open, held (kept back by the contact policy, see held_reason), won or lost
    "ALTER TABLE opportunities ADD COLUMN held_reason TEXT",
    "ALTER TABLE opportunities ADD COLUMN pitch_id TEXT",
    "ALTER TABLE opportunities ADD COLUMN amount REAL",
    "ALTER TABLE opportunities ADD COLUMN closed_at TEXT",
    "CREATE INDEX idx_opportunities_status ON opportunities (status)",
    """CREATE TABLE opportunity_evidence (
    id TEXT PRIMARY KEY,
    opportunity_id TEXT NOT NULL,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    trigger_kind TEXT,
    trigger_label TEXT,
    evidence TEXT,
    speaker TEXT,
    start_s REAL,
    end_s REAL,
    score REAL,
    added_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_opportunity_evidence_opportunity_id ON opportunity_evidence (opportunity_id)",
    "CREATE INDEX idx_opportunity_evidence_call_id ON opportunity_evidence (call_id)",
    """CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    opportunity_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('won', 'lost', 'open')),
    amount REAL,
    closed_at TEXT,
    source TEXT,
    imported_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_outcomes_opportunity_id ON outcomes (opportunity_id)",
)


@migrations(name="004_customer_memory")
def m004_customer_memory(db: Database) -> None:
    """Customer timeline, contact policy, CRM outcomes and pitch variants.

    ``opportunity_evidence`` holds the evidence later calls of the same customer add to
    an opportunity that is still open (no foreign key to ``opportunities``, as for
    ``export_items``). ``outcomes`` is the audit trail of CRM imports; the latest one
    per opportunity is copied onto ``opportunities.status/amount/closed_at``.
    """
    for statement in _CUSTOMER_MEMORY:
        db.execute(statement)


_RESULTS_PER_CATALOGUE = (
    # '' stands for "no catalogue name", so the primary key holds (NULLs would not collide)
    """CREATE TABLE call_results (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    catalogue TEXT NOT NULL,
    processed_at TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0 CHECK (sensitive IN (0, 1)),
    PRIMARY KEY (call_id, catalogue)
)""",
    "INSERT INTO call_results (call_id, catalogue, processed_at, sensitive)"
    " SELECT id, coalesce(catalogue, ''), processed_at, sensitive FROM calls WHERE status = 'done'",
    "ALTER TABLE signals ADD COLUMN catalogue TEXT",
    "UPDATE signals SET catalogue = (SELECT c.catalogue FROM calls c WHERE c.id = signals.call_id)",
    "CREATE INDEX idx_signals_call_id_catalogue ON signals (call_id, catalogue)",
    "ALTER TABLE opportunity_evidence ADD COLUMN catalogue TEXT",
    """UPDATE opportunity_evidence SET catalogue = coalesce(
    (SELECT o.catalogue FROM opportunities o WHERE o.id = opportunity_evidence.opportunity_id),
    (SELECT c.catalogue FROM calls c WHERE c.id = opportunity_evidence.call_id))""",
)


@migrations(name="005_results_per_catalogue")
def m005_results_per_catalogue(db: Database) -> None:
    """A call's signals, opportunities and evidence are kept per catalogue: processing the same
    recording against a second catalogue adds that catalogue's results beside the first's.

    ``call_results`` records which catalogues a call is done for (``calls.catalogue`` is the
    latest one). Existing rows are assigned the catalogue their call was processed with.
    """
    for statement in _RESULTS_PER_CATALOGUE:
        db.execute(statement)


_CALL_ROLES = (
    "ALTER TABLE calls ADD COLUMN role_source TEXT CHECK (role_source IN ('labels', 'inferred', 'channels'))",
    "ALTER TABLE calls ADD COLUMN role_confidence REAL CHECK (role_confidence BETWEEN 0 AND 1)",
    # Calls stored before: their segments tell whether the roles came from labels or channels
    # (recordings' segments have no label); a call whose speakers are all unknown, or whose
    # transcript was purged, stays NULL.
    """UPDATE calls SET role_source = CASE WHEN EXISTS (
        SELECT 1 FROM segments s WHERE s.call_id = calls.id AND s.speaker IN ('agent', 'customer')
          AND coalesce(s.speaker_label, '') != '') THEN 'labels' ELSE 'channels' END, role_confidence = 1.0
    WHERE EXISTS (SELECT 1 FROM segments s WHERE s.call_id = calls.id AND s.speaker IN ('agent', 'customer'))""",
)


@migrations(name="006_call_roles")
def m006_call_roles(db: Database) -> None:
    """Where a call's speaker roles came from (``callscout.inputs.roles``): ``labels`` (the transcript's
    speaker labels), ``channels`` (one speaker per stereo channel), ``inferred`` (from the dialogue,
    with ``role_confidence``), NULL while unknown."""
    for statement in _CALL_ROLES:
        db.execute(statement)


def apply_migrations(db: Database) -> list[str]:
    """Apply pending migrations; return the names that ran."""
    pending = [migration.name for migration in migrations.pending(db)]
    if pending:
        logger.debug("applying migrations: %s", ", ".join(pending))
        migrations.apply(db)
    return pending


def schema_sql(db: Database) -> str:
    """The schema as SQLite stores it, without sqlite-utils' bookkeeping table."""
    rows = db.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name != ? ORDER BY type DESC, name",
        [MIGRATIONS_TABLE],
    ).fetchall()
    return "".join(f"{sql};\n" for (sql,) in rows)
