"""Evaluate extraction + matching against annotated calls (``shared/eval/*.jsonl``).

Every call runs through the same ``Extractor.extract`` and ``match_opportunities`` as the
pipeline, on its turns as segments. Expected opportunities follow mechanically from the gold
annotation (see ``expected_opportunities``). Development calls are split once and for all by
``split_of``: rules are tuned on the ``tuning`` half and checked on the ``held-out`` half. Every
miss gets one error class (``callscout.evaluation.errors``).

``unlabelled`` (``callscout eval --unlabelled``) hides the gold roles: each call's speakers are
labelled "Sprecher 1", "Sprecher 2" (German) or "Speaker A", "Speaker B" (English) in the order
they first speak, ``roles.assign_roles`` infers the roles as the pipeline does, and the report adds
the role accuracy (turns whose inferred role is the gold one; turns of a call left ``unknown``
count as wrong) and how many calls were left unknown or got the roles swapped.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callscout.evaluation.errors import ERROR_CLASSES, classify
from callscout.inputs.roles import assign_roles
from callscout.match.catalogue import Catalogue, load_catalogues
from callscout.match.opportunities import match_opportunities
from callscout.records import UNKNOWN, Segment, Signal, Transcript

SENSITIVE_IDS = ("health", "bereavement")
SPLITS = ("tuning", "held-out", "all")


def split_of(call_id: str) -> str:
    """``tuning`` when the first hex digit of sha256(call id) is even, else ``held-out``."""
    return "tuning" if int(hashlib.sha256(call_id.encode("utf-8")).hexdigest()[0], 16) % 2 == 0 else "held-out"


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

    def unlabelled_transcript(self) -> Transcript:
        """The turns with neutral labels in order of first appearance and every role unknown."""
        order = list(dict.fromkeys(role for role, _ in self.turns))
        labels = {role: neutral_label(self.language, number) for number, role in enumerate(order)}
        segments = [Segment(speaker=UNKNOWN, text=text, label=labels[role]) for role, text in self.turns]
        return Transcript(segments=segments, language=self.language)


def neutral_label(language: str, number: int) -> str:
    """"Sprecher 1", "Sprecher 2", ... for German calls; "Speaker A", "Speaker B", ... otherwise."""
    return f"Sprecher {number + 1}" if language == "de" else f"Speaker {chr(ord('A') + number)}"


def load_gold(path: str | Path) -> list[GoldCall]:
    calls = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            known = {k: v for k, v in raw.items() if k in GoldCall.__dataclass_fields__}
            known["turns"] = [tuple(turn) for turn in raw["turns"]]
            calls.append(GoldCall(**known))
    return calls


def load_gold_files(paths) -> list[GoldCall]:
    """The calls of several gold files; a call id seen twice is an error."""
    calls, seen = [], set()
    for path in paths:
        for call in load_gold(path):
            if call.id in seen:
                raise ValueError(f"{path}: call id {call.id!r} appears twice")
            seen.add(call.id)
            calls.append(call)
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
class RoleCounts:
    """Inferred roles against the gold ones (``--unlabelled``)."""

    turns: int = 0
    correct: int = 0  # turns whose inferred role is the gold role
    calls: int = 0
    unknown_calls: int = 0  # below the confidence threshold: every speaker left unknown
    swapped_calls: int = 0  # decided, but the agent is not the gold agent

    def add(self, gold_roles: list[str], inferred: list[str]) -> None:
        self.calls += 1
        self.turns += len(gold_roles)
        self.correct += sum(g == i for g, i in zip(gold_roles, inferred))
        if all(role == UNKNOWN for role in inferred):
            self.unknown_calls += 1
        elif any(g == "agent" and i != "agent" for g, i in zip(gold_roles, inferred)):
            self.swapped_calls += 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.turns if self.turns else 1.0

    def to_dict(self) -> dict:
        return {**asdict(self), "accuracy": round(self.accuracy, 4)}

    def render(self) -> str:
        return (f"roles inferred: accuracy {self.accuracy:.3f} ({self.correct}/{self.turns} turns); "
                f"calls left unknown {self.unknown_calls}/{self.calls}, agent wrong {self.swapped_calls}")


@dataclass
class Miss:
    call_id: str
    what: str  # opportunity or life_event
    label: str
    error: str  # false_positive or false_negative
    evidence: str  # the sentence the trigger or blocker came from; "" when none was found
    trigger: str = ""  # "need:haftpflicht", "life_event:moving", "complement:laptop", "already_has", ...
    speaker: str = ""
    language: str = ""
    error_class: str = "other"  # one of eval_errors.ERROR_CLASSES

    def render(self) -> str:
        if self.evidence:
            shown = f"[{self.trigger}] {self.evidence}" if self.trigger else self.evidence
        else:
            shown = "no trigger found" if self.what == "opportunity" else "not found"
        return f"{self.call_id} {self.what} {self.label} {self.error}: {shown}"


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
    roles: RoleCounts | None = None  # with --unlabelled

    def error_classes(self) -> dict[str, int]:
        counts = Counter(m.error_class for m in self.misses)
        return {name: counts[name] for name in ERROR_CLASSES}

    def error_classes_by_language(self) -> dict[str, dict[str, int]]:
        languages = sorted({m.language for m in self.misses} | set(self.by_language))
        counts = Counter((m.error_class, m.language) for m in self.misses)
        return {lang: {name: counts[name, lang] for name in ERROR_CLASSES} for lang in languages}

    def summary(self) -> dict:
        """The figures compared across splits."""
        return {
            "calls": self.calls,
            "opportunities": self.opportunities.to_dict(),
            "life_events": self.life_events.to_dict(),
            "suppressed_offered": self.suppressed_offered,
            "sensitive_offered": self.sensitive_offered,
            "error_classes": self.error_classes(),
            **({"roles": self.roles.to_dict()} if self.roles else {}),
        }

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
            "error_classes": self.error_classes(),
            "error_classes_by_language": self.error_classes_by_language(),
            "misses": [asdict(m) for m in self.misses],
            **({"roles": self.roles.to_dict()} if self.roles else {}),
        }

    def render(self) -> str:
        def line(name: str, c: Counts) -> str:
            return f"{name:<22} P {c.precision:.3f}  R {c.recall:.3f}  F1 {c.f1:.3f}  (tp {c.tp}, fp {c.fp}, fn {c.fn})"

        out = [f"{self.calls} calls, encoder {self.encoder or '?'}", line("opportunities", self.opportunities),
               line("life events", self.life_events), line("at policy cut", self.at_policy_cut),
               f"suppressed products offered: {self.suppressed_offered}",
               f"sensitive calls flagged: {self.sensitive_calls_flagged}/{self.sensitive_calls}; "
               f"unflagged offers in sensitive calls: {self.sensitive_offered}"]
        if self.roles:
            out.append(self.roles.render())
        for title, groups in (("language", self.by_language), ("catalogue", self.by_catalogue)):
            for key, group in sorted(groups.items()):
                out.append(line(f"{title} {key} opps", group.opportunities))
                out.append(line(f"{title} {key} events", group.life_events))
        out.append(self.render_error_classes())
        if self.misses:
            out.append("misses by class:")
            for name in ERROR_CLASSES:
                group = [m for m in self.misses if m.error_class == name]
                if group:
                    out.append(f"  {name} ({len(group)}):")
                    out.extend(f"    {m.render()}" for m in group)
        return "\n".join(out)

    def render_error_classes(self) -> str:
        by_language = self.error_classes_by_language()
        out = [f"{'error class':<20} {'all':>5}" + "".join(f" {lang:>5}" for lang in by_language)]
        for name, count in self.error_classes().items():
            out.append(f"{name:<20} {count:>5}" + "".join(f" {by_language[lang][name]:>5}" for lang in by_language))
        return "\n".join(out)


def evaluate_calls(
    calls: list[GoldCall], catalogues: dict[str, Catalogue], extractor, split: str = "all", unlabelled: bool = False
) -> EvalReport:
    """The report on ``calls`` of one split (``all`` by default)."""
    chosen = [c for c in calls if split in ("all", split_of(c.id))]
    return evaluate_splits(chosen, catalogues, extractor, unlabelled=unlabelled)[split]


def evaluate_splits(
    calls: list[GoldCall], catalogues: dict[str, Catalogue], extractor, unlabelled: bool = False
) -> dict[str, EvalReport]:
    """One report per split (``SPLITS``), each call extracted once; ``unlabelled``: with the
    roles hidden and inferred (``GoldCall.unlabelled_transcript``)."""
    name = getattr(extractor.encoder, "name", "")
    reports = {split: EvalReport(encoder=name, roles=RoleCounts() if unlabelled else None) for split in SPLITS}
    for call in calls:
        if call.catalogue not in catalogues:
            raise ValueError(f"call {call.id}: no catalogue {call.catalogue!r}")
        catalogue = catalogues[call.catalogue]
        transcript = call.unlabelled_transcript() if unlabelled else call.transcript()
        if unlabelled:
            assign_roles(transcript)
        signals = extractor.extract(transcript, catalogue)
        for split in ("all", split_of(call.id)):
            _score_call(reports[split], call, catalogue, signals)
            if unlabelled:
                reports[split].roles.add([role for role, _ in call.turns], [s.speaker for s in transcript.segments])
    return reports


def splits_to_dict(reports: dict[str, EvalReport]) -> dict:
    """The figures of each split, the gap held-out minus tuning, and the full report on all calls."""
    return {"splits": {split: reports[split].summary() for split in SPLITS}, "gap": split_gap(reports),
            "report": reports["all"].to_dict()}


def _figures(report: EvalReport) -> dict[str, float]:
    return {
        "opportunity P": report.opportunities.precision, "opportunity R": report.opportunities.recall,
        "opportunity F1": report.opportunities.f1, "life-event P": report.life_events.precision,
        "life-event R": report.life_events.recall, "life-event F1": report.life_events.f1,
        "suppressed offered": report.suppressed_offered, "sensitive offered": report.sensitive_offered,
    }


def split_gap(reports: dict[str, EvalReport]) -> dict[str, float]:
    tuning, held_out = _figures(reports["tuning"]), _figures(reports["held-out"])
    return {key: round(held_out[key] - tuning[key], 4) for key in tuning}


def _cell(key: str, value: float, signed: bool = False) -> str:
    if "offered" in key or key.startswith(("errors", "calls")):
        return f"{int(value):+d}" if signed else str(int(value))
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def split_rows(reports: dict[str, EvalReport]) -> list[tuple[str, list[str]]]:
    """Rows of the comparison table: (figure, [tuning, held-out, all, gap held-out - tuning])."""
    figures = {split: _figures(reports[split]) for split in SPLITS}
    for split in SPLITS:
        figures[split].update({f"errors: {k}": v for k, v in reports[split].error_classes().items()})
    rows = [("calls", [str(reports[split].calls) for split in SPLITS] + [""])]
    if reports["all"].roles is not None:
        for split in SPLITS:
            roles = reports[split].roles
            figures[split] = {"role accuracy": roles.accuracy, "calls roles unknown": roles.unknown_calls,
                              "calls agent wrong": roles.swapped_calls, **figures[split]}
    for key in figures["all"]:
        gap = figures["held-out"][key] - figures["tuning"][key]
        rows.append((key, [_cell(key, figures[split][key]) for split in SPLITS] + [_cell(key, gap, signed=True)]))
    return rows


def render_splits(reports: dict[str, EvalReport]) -> str:
    """The splits side by side, then the full report on all calls."""
    header = ["tuning", "held-out", "all", "gap (held-out - tuning)"]
    out = [f"encoder {reports['all'].encoder or '?'}; split: sha256(call id), first hex digit even = tuning",
           f"{'':<28}" + "".join(f"{h:>10}" for h in header[:3]) + f"  {header[3]}"]
    out += [f"{key:<28}" + "".join(f"{v:>10}" for v in values[:3]) + f"  {values[3]:>8}" for key, values in split_rows(reports)]
    return "\n".join(out) + "\n\nall calls:\n" + reports["all"].render()


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
    opportunities = {o.product_id: o for o in offered}
    events = {s.label: s for s in signals if s.kind == "life_event"}
    blockers = {s.label: s for s in signals if s.kind in ("already_has", "declined")}
    misses = []
    for label in sorted(predicted - expected):
        o = opportunities[label]
        trigger = f"{o.trigger_kind}:{o.trigger_label}"
        misses.append(Miss(call.id, "opportunity", label, "false_positive", o.evidence, trigger, o.speaker))
    for label in sorted(expected - predicted):
        b = blockers.get(label)
        found = (b.evidence, b.kind, b.speaker) if b else ("", "", "")
        misses.append(Miss(call.id, "opportunity", label, "false_negative", *found))
    for label in sorted(found_events - gold_events):
        e = events[label]
        misses.append(Miss(call.id, "life_event", label, "false_positive", e.evidence, "", e.speaker))
    for label in sorted(gold_events - found_events):
        misses.append(Miss(call.id, "life_event", label, "false_negative", ""))
    for miss in misses:
        miss.language = call.language
        miss.error_class = classify(call, miss, misses)
    report.misses.extend(misses)


def evaluate_file(
    gold_path: str | Path, catalogues_dir: str | Path, extractor, split: str = "all", unlabelled: bool = False
) -> EvalReport:
    return evaluate_calls(load_gold(gold_path), load_catalogues(catalogues_dir), extractor, split, unlabelled)


def evaluate_files(gold_paths, catalogues_dir: str | Path, extractor, unlabelled: bool = False) -> dict[str, EvalReport]:
    return evaluate_splits(load_gold_files(gold_paths), load_catalogues(catalogues_dir), extractor, unlabelled)
