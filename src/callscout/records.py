"""Typed records passed between the pipeline stages.

They stay plain dataclasses; only the store turns them into rows (``dataclasses.asdict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

AGENT = "agent"
CUSTOMER = "customer"
UNKNOWN = "unknown"
ROLES = (AGENT, CUSTOMER, UNKNOWN)

SIGNAL_KINDS = ("life_event", "need", "owned", "already_has", "declined", "sensitive", "requested")


@dataclass
class Segment:
    """One stretch of speech by one speaker."""

    speaker: str  # a role: agent, customer or unknown
    text: str
    start: float | None = None
    end: float | None = None
    label: str = ""  # the speaker label as the source wrote it ("Beraterin", "SPEAKER_1", ...)


@dataclass
class CallMeta:
    """Customer metadata from a sidecar ``NAME.meta.json``."""

    customer_id: str | None = None
    account_manager: str | None = None
    recorded_at: str | None = None


@dataclass
class Transcript:
    segments: list[Segment]
    language: str | None = None
    duration_s: float | None = None
    language_probability: float | None = None
    # Where the speakers' roles came from (``callscout.inputs.roles``): labels, channels or inferred;
    # None while unknown. role_confidence: 1.0 for labels and channels, the inference's otherwise.
    role_source: str | None = None
    role_confidence: float | None = None


@dataclass
class Signal:
    """Something the customer stated, with its evidence."""

    kind: str  # one of SIGNAL_KINDS
    label: str  # taxonomy id (life_event, sensitive) or product id (need, owned, already_has, declined, requested)
    evidence: str
    speaker: str
    start: float | None
    end: float | None
    confidence: float
    segment_idx: int | None = None


@dataclass(frozen=True)
class Pitch:
    """One variant of a product's talking point; ``default`` when the product has only ``pitch``."""

    id: str
    text: str


@dataclass
class Opportunity:
    product_id: str
    product_name: str
    trigger_kind: str  # life_event, need, complement or requested (the customer asked for it)
    trigger_label: str
    evidence: str
    speaker: str
    start: float | None
    end: float | None
    score: float
    pitch: str
    sensitive_call: bool = False
    pitches: tuple[Pitch, ...] = ()  # the product's variants; the store picks one by the opportunity id


@dataclass
class CallResult:
    """Everything the pipeline learnt about one call."""

    transcript: Transcript
    signals: list[Signal] = field(default_factory=list)
    opportunities: list[Opportunity] = field(default_factory=list)


@dataclass
class CallRecord:
    """The store's row for one call (``calls`` table)."""

    id: str  # stable: derived from source_sha256
    source_path: str
    source_sha256: str
    status: str  # done, failed or processing
    customer_id: str | None = None
    account_manager: str | None = None
    recorded_at: str | None = None
    language: str | None = None
    language_probability: float | None = None
    duration_s: float | None = None
    catalogue: str | None = None
    model: str | None = None
    error: str | None = None
    processed_at: str | None = None
    sensitive: bool = False  # the call touched a sensitive topic
    role_source: str | None = None  # labels, channels, inferred or None (``callscout.inputs.roles``)
    role_confidence: float | None = None
