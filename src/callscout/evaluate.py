"""Evaluate extraction + matching against annotated calls (``shared/eval/dev_calls.jsonl``).

Every call runs through the same ``Extractor.extract`` and ``match_opportunities`` as the
pipeline, on its turns as segments. Expected opportunities follow mechanically from the gold
annotation (see ``expected_opportunities``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callscout.catalogue import Catalogue, load_catalogues
from callscout.match import match_opportunities
from callscout.records import Segment, Signal, Transcript

SENSITIVE_IDS = ("health", "bereavement")


@dataclass
class GoldCall:
    id: str
    language: str
    catalogue: str
    turns: list[tuple[str, str]]
    life_events: list[str] = field(default_factory=list)
    need_products: list[str] = field(default_factory=list)
    owned: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    distractors: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def sensitive(self) -> bool:
        return any(d in SENSITIVE_IDS for d in self.distractors)

    def transcript(self) -> Transcript:
        return Transcript(segments=[Segment(speaker=role, text=text) for role, text in self.turns], language=self.language)


def load_gold(path: str | Path) -> list[GoldCall]:
    calls = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            raw = json.loads(line)
            known = {k: v for k, v in raw.items() if k in GoldCall.__dataclass_fields__}
            known["turns"] = [tuple(turn) for turn in raw["turns"]]
            calls.append(GoldCall(**known))
    return calls


def expected_opportunities(call: GoldCall, catalogue: Catalogue) -> set[str]:
    expected = set(call.need_products)
    for product in catalogue.products:
        if set(product.life_events) & set(call.life_events) or set(product.complements) & set(call.owned):
            expected.add(product.id)
    return expected - set(call.suppressed)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, expected: set[str], predicted: set[str]) -> None:
        self.tp += len(expected & predicted)
        self.fp += len(predicted - expected)
        self.fn += len(expected - predicted)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass
class Miss:
    call_id: str
    what: str  # opportunity or life_event
    label: str
    error: str  # false_positive or false_negative
    evidence: str


@dataclass
class Breakdown:
    opportunities: Counts = field(default_factory=Counts)
    life_events: Counts = field(default_factory=Counts)

    def to_dict(self) -> dict:
        return {"opportunities": self.opportunities.to_dict(), "life_events": self.life_events.to_dict()}


@dataclass
class EvalReport:
    encoder: str = ""
    calls: int = 0
    opportunities: Counts = field(default_factory=Counts)
    life_events: Counts = field(default_factory=Counts)
    at_policy_cut: Counts = field(default_factory=Counts)  # after max_opportunities_per_call / min_score
    suppressed_offered: int = 0  # products the customer has or declined, offered anyway
    sensitive_offered: int = 0  # offers in a sensitive call that are not flagged sensitive_call
    sensitive_calls_flagged: int = 0
    sensitive_calls: int = 0
    by_language: dict[str, Breakdown] = field(default_factory=lambda: defaultdict(Breakdown))
    by_catalogue: dict[str, Breakdown] = field(default_factory=lambda: defaultdict(Breakdown))
    misses: list[Miss] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "encoder": self.encoder,
            "calls": self.calls,
            "opportunities": self.opportunities.to_dict(),
            "life_events": self.life_events.to_dict(),
            "at_policy_cut": self.at_policy_cut.to_dict(),
            "suppressed_offered": self.suppressed_offered,
            "sensitive_offered": self.sensitive_offered,
            "sensitive_calls_flagged": self.sensitive_calls_flagged,
            "sensitive_calls": self.sensitive_calls,
            "by_language": {k: v.to_dict() for k, v in sorted(self.by_language.items())},
            "by_catalogue": {k: v.to_dict() for k, v in sorted(self.by_catalogue.items())},
            "misses": [asdict(m) for m in self.misses],
        }

    def render(self) -> str:
        def line(name: str, c: Counts) -> str:
            return f"{name:<22} P {c.precision:.3f}  R {c.recall:.3f}  F1 {c.f1:.3f}  (tp {c.tp}, fp {c.fp}, fn {c.fn})"

        out = [f"{self.calls} calls, encoder {self.encoder or '?'}", line("opportunities", self.opportunities),
               line("life events", self.life_events), line("at policy cut", self.at_policy_cut),
               f"suppressed products offered: {self.suppressed_offered}",
               f"sensitive calls flagged: {self.sensitive_calls_flagged}/{self.sensitive_calls}; "
               f"unflagged offers in sensitive calls: {self.sensitive_offered}"]
        for title, groups in (("language", self.by_language), ("catalogue", self.by_catalogue)):
            for key, group in sorted(groups.items()):
                out.append(line(f"{title} {key} opps", group.opportunities))
                out.append(line(f"{title} {key} events", group.life_events))
        if self.misses:
            out.append("misses:")
            out.extend(f"  {m.call_id} {m.what} {m.label} {m.error}: {m.evidence}" for m in self.misses)
        return "\n".join(out)


def evaluate_calls(calls: list[GoldCall], catalogues: dict[str, Catalogue], extractor) -> EvalReport:
    report = EvalReport(encoder=getattr(extractor.encoder, "name", ""))
    for call in calls:
        catalogue = catalogues[call.catalogue]
        signals = extractor.extract(call.transcript(), catalogue)
        _score_call(report, call, catalogue, signals)
    return report


def _score_call(report: EvalReport, call: GoldCall, catalogue: Catalogue, signals: list[Signal]) -> None:
    offered = match_opportunities(signals, catalogue, apply_policy=False)
    at_cut = match_opportunities(signals, catalogue)
    expected, predicted = expected_opportunities(call, catalogue), {o.product_id for o in offered}
    gold_events = set(call.life_events)
    found_events = {s.label for s in signals if s.kind == "life_event"}
    report.calls += 1
    for counts, (want, got) in (
        (report.opportunities, (expected, predicted)),
        (report.life_events, (gold_events, found_events)),
        (report.at_policy_cut, (expected, {o.product_id for o in at_cut})),
        (report.by_language[call.language].opportunities, (expected, predicted)),
        (report.by_language[call.language].life_events, (gold_events, found_events)),
        (report.by_catalogue[call.catalogue].opportunities, (expected, predicted)),
        (report.by_catalogue[call.catalogue].life_events, (gold_events, found_events)),
    ):
        counts.add(want, got)
    report.suppressed_offered += len(predicted & set(call.suppressed))
    flagged = any(s.kind == "sensitive" for s in signals)
    if call.sensitive:
        report.sensitive_calls += 1
        report.sensitive_calls_flagged += flagged
        report.sensitive_offered += sum(not o.sensitive_call for o in offered)
    evidence = {o.product_id: f"[{o.trigger_kind}:{o.trigger_label}] {o.evidence}" for o in offered}
    events = {s.label: s.evidence for s in signals if s.kind == "life_event"}
    blockers = {s.label: f"[{s.kind}] {s.evidence}" for s in signals if s.kind in ("already_has", "declined")}
    for label in sorted(predicted - expected):
        report.misses.append(Miss(call.id, "opportunity", label, "false_positive", evidence[label]))
    for label in sorted(expected - predicted):
        report.misses.append(Miss(call.id, "opportunity", label, "false_negative", blockers.get(label, "no trigger found")))
    for label in sorted(found_events - gold_events):
        report.misses.append(Miss(call.id, "life_event", label, "false_positive", events[label]))
    for label in sorted(gold_events - found_events):
        report.misses.append(Miss(call.id, "life_event", label, "false_negative", "not found"))


def evaluate_file(gold_path: str | Path, catalogues_dir: str | Path, extractor) -> EvalReport:
    return evaluate_calls(load_gold(gold_path), load_catalogues(catalogues_dir), extractor)
