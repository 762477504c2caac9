CREATE TABLE call_results (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    catalogue TEXT NOT NULL,
    processed_at TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0 CHECK (sensitive IN (0, 1)),
    PRIMARY KEY (call_id, catalogue)
);
CREATE TABLE calls (
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
, purged_at TEXT, role_source TEXT CHECK (role_source IN ('labels', 'inferred', 'channels')), role_confidence REAL CHECK (role_confidence BETWEEN 0 AND 1));
CREATE TABLE export_items (
    target TEXT NOT NULL,
    opportunity_id TEXT NOT NULL,
    export_id INTEGER NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    PRIMARY KEY (target, opportunity_id)
);
CREATE TABLE exports (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    exported_at TEXT NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE opportunities (
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
, held_reason TEXT, pitch_id TEXT, amount REAL, closed_at TEXT);
CREATE TABLE opportunity_evidence (
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
, catalogue TEXT);
CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    opportunity_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('won', 'lost', 'open')),
    amount REAL,
    closed_at TEXT,
    source TEXT,
    imported_at TEXT NOT NULL
);
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    speaker_label TEXT,
    start_s REAL,
    end_s REAL,
    text TEXT NOT NULL
);
CREATE TABLE signals (
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
, catalogue TEXT);
CREATE INDEX idx_calls_source_path ON calls (source_path);
CREATE UNIQUE INDEX idx_calls_source_sha256 ON calls (source_sha256);
CREATE INDEX idx_export_items_export_id ON export_items (export_id);
CREATE INDEX idx_exports_target ON exports (target, exported_at);
CREATE INDEX idx_opportunities_call_id ON opportunities (call_id);
CREATE INDEX idx_opportunities_customer_id ON opportunities (customer_id);
CREATE INDEX idx_opportunities_product_id ON opportunities (product_id);
CREATE INDEX idx_opportunities_status ON opportunities (status);
CREATE INDEX idx_opportunities_updated_at ON opportunities (updated_at);
CREATE INDEX idx_opportunity_evidence_call_id ON opportunity_evidence (call_id);
CREATE INDEX idx_opportunity_evidence_opportunity_id ON opportunity_evidence (opportunity_id);
CREATE INDEX idx_outcomes_opportunity_id ON outcomes (opportunity_id);
CREATE INDEX idx_segments_call_id ON segments (call_id);
CREATE INDEX idx_signals_call_id ON signals (call_id);
CREATE INDEX idx_signals_call_id_catalogue ON signals (call_id, catalogue);
