"""Find catalogue products in a sentence by name and aliases.

Tolerant to inflection ("Kopfhörern", "memory cards"), German compounds ("Familienhaftpflicht"
finds "Haftpflicht"), ASR splits ("haus rat versicherung") and a misheard letter
("haus rath versicherung"), plus the brand and everyday names of the rule files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callscout.extract.rules import RuleSet
from callscout.extract.views import SentenceView
from callscout.match.catalogue import Catalogue

MAX_WORDS = 4
INFLECTIONS = ("", "s", "n", "e", "en", "es", "er", "ern", "ns")
MIN_COMPOUND_HEAD = 5
MIN_FUZZY = 10


@dataclass(frozen=True)
class Mention:
    product_id: str
    start: int  # word indices in the sentence view
    end: int


def squash(text: str) -> str:
    return re.sub(r"[\s\-_./']+", "", text.lower())


def _split_words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s\-]+", text.lower()) if w]


class ProductMatcher:
    """All name forms of a catalogue's products, keyed by their squashed spelling."""

    def __init__(self, catalogue: Catalogue, rules: RuleSet):
        self.language = rules.language
        self.keys: dict[str, str] = {}
        names = {p.id: [p.name, *p.aliases] for p in catalogue.products}
        generic = rules.generic_heads
        # The distinctive words of each product's names ("tv", "package" of "TV package"; no bare "insurance").
        self.name_words = {
            pid: frozenset(w for n in names_ for w in _split_words(n) if len(w) >= 2 and w not in generic)
            for pid, names_ in names.items()
        }
        for product in catalogue.products:
            # Names of the other products, as modifiers in this one's names ("Laptoptasche").
            device_words = {
                squash(n) for pid, names_ in names.items() if pid != product.id for n in names_ if " " not in n and "-" not in n
            }
            for name in names[product.id]:
                self._add(squash(name), product.id)
                for variant in self._variants(name, rules, device_words):
                    self._add(variant, product.id)
        for term, alias in rules.synonyms.items():
            owner = self.keys.get(squash(alias))
            if owner:
                self._add(squash(term), owner)
        self.compound_heads = {k: v for k, v in self.keys.items() if len(k) >= MIN_COMPOUND_HEAD}
        self.fuzzy_keys = [k for k in self.keys if len(k) >= MIN_FUZZY]
        self._memo: dict[tuple[str, bool], str | None] = {}
        self.heads = {k[:3] for k in self.keys}

    def _add(self, key: str, product_id: str) -> None:
        if len(key) >= 2:
            self.keys.setdefault(key, product_id)

    @staticmethod
    def _variants(name: str, rules: RuleSet, device_words: set[str]) -> list[str]:
        """Shorter forms: without a generic head ("liability insurance" -> "liability") and
        without a leading device name ("laptop bag" -> "bag", "Handyhülle" -> "hülle")."""
        words = _split_words(name)
        variants = []
        if len(words) >= 2 and words[-1] in rules.generic_heads:
            rest = " ".join(words[:-1])
            if rest not in rules.weak_modifiers and len(squash(rest)) >= 4:
                variants.append(squash(rest))
        if len(words) >= 2 and squash(words[0]) in device_words and len(words[-1]) >= 3:
            variants.append(squash(" ".join(words[1:])))
        if len(words) == 1:
            for device in device_words:
                word = words[0]
                if word != device and word.startswith(device) and len(word) - len(device) >= 4:
                    variants.append(word[len(device) :])
        return variants

    def find(self, view: SentenceView) -> list[Mention]:
        """Product mentions of a sentence (cached on the view: several rules ask)."""
        key = ("products", id(self))
        cached = view.memo.get(key)
        if cached is None:
            cached = view.memo[key] = self._find(view)
        return cached

    def _find(self, view: SentenceView) -> list[Mention]:
        candidates = []
        forms_list = [view.words] if view.lemmas == view.words else [view.words, view.lemmas]
        for forms in forms_list:
            squashed = [squash(f) for f in forms]
            for start in range(len(forms)):
                joined = squashed[start]
                product = self._lookup(joined, single=True)
                if product:
                    candidates.append((1, len(joined), Mention(product, start, start + 1)))
                # Longer names only from a word that can begin one ("haus rat versicherung").
                if joined[:3] not in self.heads:
                    continue
                for end in range(start + 2, min(start + MAX_WORDS, len(forms)) + 1):
                    joined += squashed[end - 1]
                    product = self._lookup(joined, single=False)
                    if product:
                        candidates.append((end - start, len(joined), Mention(product, start, end)))
        return _longest_without_overlap(candidates)

    def _lookup(self, joined: str, single: bool) -> str | None:
        key = (joined, single)
        if key not in self._memo:
            if len(self._memo) > 200_000:
                self._memo.clear()
            self._memo[key] = self._lookup_uncached(joined, single)
        return self._memo[key]

    def _lookup_uncached(self, joined: str, single: bool) -> str | None:
        for suffix in INFLECTIONS:
            if suffix and not joined.endswith(suffix):
                continue
            stem = joined[: len(joined) - len(suffix)] if suffix else joined
            if stem in self.keys:
                return self.keys[stem]
        if single and self.language == "de":
            for start in range(1, len(joined) - MIN_COMPOUND_HEAD + 1):
                head = joined[start:]
                for suffix in INFLECTIONS:
                    stem = head[: len(head) - len(suffix)] if suffix and head.endswith(suffix) else (head if not suffix else None)
                    if stem and stem in self.compound_heads:
                        return self.compound_heads[stem]
        if len(joined) >= MIN_FUZZY:
            for key in self.fuzzy_keys:
                if abs(len(key) - len(joined)) <= 2 and key[:2] == joined[:2] and _within(key, joined, 1 if len(key) < 16 else 2):
                    return self.keys[key]
        return None


def _longest_without_overlap(candidates) -> list[Mention]:
    chosen: list[Mention] = []
    taken: set[int] = set()
    for _, _, mention in sorted(candidates, key=lambda c: (-c[1], c[2].start)):
        span = set(range(mention.start, mention.end))
        if span & taken:
            continue
        taken |= span
        chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)


def _within(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance of a and b is at most ``limit``."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit
