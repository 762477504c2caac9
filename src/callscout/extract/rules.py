"""Rule data per language (``callscout/data/rules/<lang>.yaml``), loaded once and compiled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from callscout import yamlfile

SUPPORTED_LANGUAGES = ("de", "en")
FLAGS = re.IGNORECASE | re.UNICODE


class RulesError(ValueError):
    """A rule file that cannot be read or compiled."""


@dataclass(frozen=True)
class EventRule:
    """How one life event or sensitive topic is recognised in a sentence."""

    label: str
    patterns: tuple[re.Pattern, ...] = ()
    combos: tuple[tuple[re.Pattern, re.Pattern], ...] = ()  # both parts in the same sentence
    stems: tuple[str, ...] = ()  # found in the sentence with spaces removed (split ASR words)
    exclude: tuple[re.Pattern, ...] = ()
    third_party_exempt: frozenset[str] | None = None  # {"all"}: the event is about another person anyway
    past_blocks: bool = False  # only upcoming or recurring events count (travel)


@dataclass(frozen=True)
class RuleSet:
    language: str
    stopwords: frozenset[str]
    fillers: frozenset[str]
    hesitations: frozenset[str]
    clause_breaks: frozenset[str]
    life_events: tuple[EventRule, ...]
    sensitive: tuple[EventRule, ...]
    not_sensitive: tuple[re.Pattern, ...]
    cues: dict[str, tuple[re.Pattern, ...]] = field(default_factory=dict)
    generic_heads: frozenset[str] = frozenset()
    weak_modifiers: frozenset[str] = frozenset()
    synonyms: dict[str, str] = field(default_factory=dict)
    # Each cue's patterns as one alternation: one scan per sentence and cue.
    cue_scanners: dict[str, re.Pattern] = field(default_factory=dict)

    def cue(self, name: str) -> tuple[re.Pattern, ...]:
        return self.cues.get(name, ())


def one_pattern(patterns: tuple[re.Pattern, ...]) -> re.Pattern:
    """Patterns joined into one alternation (never matching when there are none)."""
    if len(patterns) == 1:
        return patterns[0]
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns) or r"(?!)", FLAGS)


def _read(name: str) -> dict:
    text = resources.files("callscout.data").joinpath("rules", name).read_text(encoding="utf-8")
    return yamlfile.safe_load(text)


def compile_patterns(patterns, where: str) -> tuple[re.Pattern, ...]:
    compiled = []
    for pattern in patterns or ():
        try:
            compiled.append(re.compile(pattern, FLAGS))
        except re.error as exc:
            raise RulesError(f"{where}: bad pattern {pattern!r}: {exc}") from exc
    return tuple(compiled)


@lru_cache(maxsize=1)
def destinations_pattern() -> re.Pattern:
    words = sorted(_read("destinations.yaml")["destinations"], key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(str(w)) for w in words) + r")\b", FLAGS)


def _event_rule(label: str, raw: dict, where: str) -> EventRule:
    combos = []
    for first, second in raw.get("combos") or ():
        right = destinations_pattern() if second == "destinations" else compile_patterns([second], where)[0]
        combos.append((compile_patterns([first], where)[0], right))
    exempt = raw.get("third_party_exempt")
    if exempt == "all":
        exempt = ["all"]
    return EventRule(
        label=label,
        patterns=compile_patterns(raw.get("patterns"), f"{where}.{label}"),
        combos=tuple(combos),
        stems=tuple(s.replace(" ", "").lower() for s in raw.get("stems") or ()),
        exclude=compile_patterns(raw.get("exclude"), f"{where}.{label}.exclude"),
        third_party_exempt=frozenset(w.lower() for w in exempt) if exempt else None,
        past_blocks=bool(raw.get("past_blocks", False)),
    )


@dataclass(frozen=True)
class NeedConcept:
    """Generic paraphrases of one kind of need (``rules/needs.yaml``), for any catalogue's
    products whose name or aliases match ``applies_to``."""

    name: str
    applies_to: re.Pattern
    keywords: tuple[str, ...]
    sentences: tuple[str, ...]  # all languages: the encoders are multilingual

    def applies(self, names: list[str]) -> bool:
        return any(self.applies_to.search(name) for name in names)


@lru_cache(maxsize=1)
def load_concepts() -> tuple[NeedConcept, ...]:
    data = _read("needs.yaml") or {}
    concepts = []
    for name, raw in (data.get("concepts") or {}).items():
        where = f"rules/needs.yaml.{name}"
        (applies_to,) = compile_patterns([raw.get("applies_to") or r"(?!)"], where)
        sentences = tuple(str(s) for lang in SUPPORTED_LANGUAGES for s in raw.get(lang) or ())
        keywords = tuple(str(k).lower() for k in raw.get("keywords") or ())
        concepts.append(NeedConcept(name, applies_to, keywords, sentences))
    return tuple(concepts)


@lru_cache(maxsize=None)
def load_rules(language: str) -> RuleSet:
    if language not in SUPPORTED_LANGUAGES:
        raise RulesError(f"no rules for language {language!r} (have: {', '.join(SUPPORTED_LANGUAGES)})")
    data = _read(f"{language}.yaml")
    where = f"rules/{language}.yaml"
    products = data.get("products") or {}
    cues = {k: compile_patterns(v, f"{where}.cues.{k}") for k, v in (data.get("cues") or {}).items()}
    return RuleSet(
        language=language,
        stopwords=frozenset(w.lower() for w in data.get("stopwords") or ()),
        fillers=frozenset(w.lower() for w in data.get("fillers") or ()),
        hesitations=frozenset(w.lower() for w in data.get("hesitations") or ()),
        clause_breaks=frozenset(w.lower() for w in data.get("clause_breaks") or ()),
        life_events=tuple(_event_rule(k, v, where) for k, v in (data.get("life_events") or {}).items()),
        sensitive=tuple(_event_rule(k, v, where) for k, v in (data.get("sensitive") or {}).items()),
        not_sensitive=compile_patterns(data.get("not_sensitive"), f"{where}.not_sensitive"),
        cues=cues,
        cue_scanners={k: one_pattern(v) for k, v in cues.items()},
        generic_heads=frozenset(w.lower() for w in products.get("generic_heads") or ()),
        weak_modifiers=frozenset(w.lower() for w in products.get("weak_modifiers") or ()),
        synonyms={str(k).lower(): str(v).lower() for k, v in (products.get("synonyms") or {}).items()},
    )
