"""Guess whether a text is German or English from the stopwords in the rule files."""

from __future__ import annotations

import re

from callscout.extract.rules import SUPPORTED_LANGUAGES, load_rules

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def guess_language(text: str, default: str = "de") -> str:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return default
    scores = {lang: sum(w in load_rules(lang).stopwords for w in words) for lang in SUPPORTED_LANGUAGES}
    if any(ch in text for ch in "äöüß"):
        scores["de"] += 2
    best = max(scores, key=scores.get)
    return best if scores[best] > 0 else default
