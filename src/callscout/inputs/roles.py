"""Who is the agent? Speaker roles read from the dialogue when the labels say nothing.

Transcripts labelled "Sprecher 1:", "Speaker A:" or "SPEAKER_00" give every speaker the role
``unknown`` (``inputs.speakers.role_for``), and the extractor then reads the agent's pitches as if the
customer said them. ``assign_roles`` looks at such a call (two or more distinct labels, none of
them a known role) and scores each label by how it talks: the cue classes of
``data/roles.yaml`` (greeting with the company or one's own name as the call opens, the service
questions, asking for the customer number, offering and recommending products for the agent;
stating a request, one's own bill and one's own life for the customer) and how much of its
talk addresses the other person rather than itself. The label with the most agent evidence
becomes ``agent``; the one with the most customer evidence ``customer``; any further speaker
stays ``unknown``. The confidence grows with the margin between the two best agent candidates
(``margin / (margin + MARGIN_SCALE)``); below ``MIN_CONFIDENCE`` every speaker stays
``unknown`` and the extractor's rule for unknown speakers applies.

``MIN_CONFIDENCE = 0.5`` means: the evidence for one speaker over the other is worth at least
one strong cue that nothing contradicts (a service question, a request, 2.5 points; a greeting
with the company is 3). Less than that is a guess, and a wrong guess is worse than none: it
throws the customer's statements away and reads the agent's pitches as the customer's.

The source of a call's roles is kept on the transcript and stored with the call
(``calls.role_source``, ``calls.role_confidence``): ``labels`` (the transcript's labels, 1.0),
``channels`` (one speaker per stereo channel, 1.0), ``inferred`` (this module, its confidence),
NULL when the roles are unknown (with the confidence when inference was tried and fell short).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from callscout.inputs.speakers import normalise_label
from callscout.records import AGENT, CUSTOMER, UNKNOWN, Segment, Transcript
from callscout.yamlfile import safe_load

LABELS = "labels"
CHANNELS = "channels"
INFERRED = "inferred"
ROLE_SOURCES = (LABELS, CHANNELS, INFERRED)

MIN_CONFIDENCE = 0.5
MARGIN_SCALE = 2.5  # points of evidence at which the confidence is 0.5: one strong cue
OPENING_TURNS = 3  # opening cues count in a speaker's first turn among the call's first three
SIDES = (AGENT, CUSTOMER)

_APOSTROPHES = re.compile(r"[’‘`´]")
_PUNCTUATION = re.compile(r"[^\w\s'-]|(?<!\w)[-']|[-'](?!\w)")


@dataclass(frozen=True)
class CueGroup:
    """One class of expressions: its patterns, what a matching turn is worth, how many count."""

    name: str
    side: str  # agent or customer
    weight: float
    max_turns: int
    opening: bool
    patterns: tuple[re.Pattern, ...]

    def matches(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self.patterns)


@dataclass(frozen=True)
class RoleCues:
    groups: tuple[CueGroup, ...]
    address: tuple[re.Pattern, ...]
    self_words: tuple[re.Pattern, ...]
    address_weight: float
    address_min_words: int


@dataclass
class SpeakerEvidence:
    label: str  # the label as the transcript first wrote it
    turns: int = 0
    points: dict[str, float] = field(default_factory=dict)  # cue group or "address" -> points (+ agent, - customer)

    @property
    def score(self) -> float:
        """Agent evidence minus customer evidence."""
        return sum(self.points.values())


@dataclass
class RoleGuess:
    """The inferred role per speaker label (normalised, ``inputs.speakers.normalise_label``)."""

    roles: dict[str, str]
    confidence: float
    evidence: dict[str, SpeakerEvidence]

    def decided(self, min_confidence: float = MIN_CONFIDENCE) -> bool:
        return self.confidence >= min_confidence

    def role_of(self, label: str) -> str:
        return self.roles.get(normalise_label(label), UNKNOWN)


@lru_cache(maxsize=None)
def load_cues(language: str | None) -> RoleCues:
    """The cues of one language; those of every language for one the file lacks (or None)."""
    data = safe_load(resources.files("callscout.data").joinpath("roles.yaml").read_text(encoding="utf-8"))
    languages = data["languages"]
    chosen = [languages[language]] if language in languages else list(languages.values())
    groups: dict[tuple[str, str], list] = {}
    settings: dict[tuple[str, str], dict] = {}
    for entry in chosen:
        for side in SIDES:
            for name, group in entry[side].items():
                groups.setdefault((side, name), []).extend(group["patterns"])
                settings.setdefault((side, name), group)
    return RoleCues(
        groups=tuple(
            CueGroup(
                name=name, side=side, weight=float(settings[side, name]["weight"]),
                max_turns=int(settings[side, name]["max"]), opening=bool(settings[side, name].get("opening", False)),
                patterns=tuple(re.compile(p) for p in patterns),
            )
            for (side, name), patterns in groups.items()
        ),
        address=tuple(re.compile(entry["address"]) for entry in chosen),
        self_words=tuple(re.compile(entry["self"]) for entry in chosen),
        address_weight=float(data["address_weight"]),
        address_min_words=int(data["address_min_words"]),
    )  # fmt: skip


def normalise_text(text: str) -> str:
    """Lower case, punctuation dropped (apostrophes and inner hyphens kept), one space between words."""
    text = _APOSTROPHES.sub("'", text.casefold())
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def speaker_labels(segments: list[Segment]) -> list[str]:
    """The distinct labels (normalised) in order of first appearance."""
    return list(dict.fromkeys(normalise_label(s.label) for s in segments))


def needs_inference(transcript: Transcript) -> bool:
    """Every speaker ``unknown``, and at least two distinct labels."""
    segments = transcript.segments
    return all(s.speaker == UNKNOWN for s in segments) and len(speaker_labels(segments)) >= 2


def infer_roles(segments: list[Segment], language: str | None = None) -> RoleGuess | None:
    """The roles the dialogue suggests for each label; None with fewer than two labels."""
    labels = speaker_labels(segments)
    if len(labels) < 2:
        return None
    cues = load_cues(_base_language(language))
    evidence = {label: SpeakerEvidence(label=label) for label in labels}
    texts: dict[str, list[str]] = {label: [] for label in labels}
    for position, segment in enumerate(segments):
        key = normalise_label(segment.label)
        if not texts[key]:
            evidence[key].label = segment.label
        opening = not texts[key] and position < OPENING_TURNS
        texts[key].append(normalise_text(segment.text))
        _score_turn(evidence[key], texts[key][-1], cues, opening)
    _score_address(evidence, texts, cues)
    return _decide(evidence)


def _score_turn(speaker: SpeakerEvidence, text: str, cues: RoleCues, opening: bool) -> None:
    speaker.turns += 1
    for group in cues.groups:
        if group.opening and not opening:
            continue
        if group.matches(text):
            sign = 1.0 if group.side == AGENT else -1.0
            key = f"{group.side}:{group.name}"
            earned = abs(speaker.points.get(key, 0.0)) + group.weight
            speaker.points[key] = sign * min(earned, group.weight * group.max_turns)


def _score_address(evidence: dict[str, SpeakerEvidence], texts: dict[str, list[str]], cues: RoleCues) -> None:
    """Points for addressing the other person more than oneself, relative to the other speakers."""
    shares = {}
    for label, turns in texts.items():
        text = " ".join(turns)
        address = sum(len(p.findall(text)) for p in cues.address)
        own = sum(len(p.findall(text)) for p in cues.self_words)
        if address + own >= cues.address_min_words:
            shares[label] = address / (address + own)
    for label, share in shares.items():
        others = [s for other, s in shares.items() if other != label]
        if others:
            evidence[label].points["address"] = round(cues.address_weight * (share - sum(others) / len(others)), 4)


def _decide(evidence: dict[str, SpeakerEvidence]) -> RoleGuess:
    ranked = sorted(evidence, key=lambda label: evidence[label].score, reverse=True)
    margin = max(0.0, evidence[ranked[0]].score - evidence[ranked[1]].score)
    roles = {label: UNKNOWN for label in ranked}
    roles[ranked[0]] = AGENT
    roles[ranked[-1]] = CUSTOMER
    return RoleGuess(roles=roles, confidence=round(margin / (margin + MARGIN_SCALE), 3), evidence=evidence)


def _base_language(language: str | None) -> str | None:
    return language.split("-")[0].split("_")[0].lower() if language else None


def assign_roles(transcript: Transcript, min_confidence: float = MIN_CONFIDENCE) -> RoleGuess | None:
    """Set the transcript's ``role_source``/``role_confidence``; when every speaker is unknown,
    infer the roles and, at ``min_confidence`` or above, write them onto the segments (their
    ``label`` stays as the source wrote it). Returns the inference, if one was made."""
    if transcript.role_source is not None:
        return None  # already assigned
    known = [s for s in transcript.segments if s.speaker in SIDES]
    if known:
        transcript.role_source = CHANNELS if all(not s.label for s in known) else LABELS
        transcript.role_confidence = 1.0
        return None
    transcript.role_confidence = None
    guess = infer_roles(transcript.segments, transcript.language) if needs_inference(transcript) else None
    if guess is None:
        return None
    transcript.role_confidence = guess.confidence
    if guess.decided(min_confidence):
        transcript.role_source = INFERRED
        for segment in transcript.segments:
            segment.speaker = guess.role_of(segment.label)
    return guess


def roles_lines(call: dict) -> list[str]:
    """``callscout show``'s line on where the call's roles came from (none for a call not done)."""
    if call.get("status") != "done":
        return []
    source, confidence = call.get("role_source"), call.get("role_confidence")
    if source == INFERRED:
        return [f"roles: inferred ({confidence:.2f})"]
    if source in (LABELS, CHANNELS):
        return [f"roles: {source}"]
    if confidence is not None:
        return [f"roles: unknown (inferred {confidence:.2f}, below {MIN_CONFIDENCE:.2f})"]
    return ["roles: unknown"]
