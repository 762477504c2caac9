"""Life-event and sensitive-topic ids (data/taxonomy.yaml, a copy of the shared spec)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from callscout import yamlfile


@dataclass(frozen=True)
class Taxonomy:
    life_events: dict[str, dict[str, str]]  # id -> {language: description}
    sensitive: dict[str, dict[str, str]]


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    text = resources.files("callscout.data").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
    data = yamlfile.safe_load(text)
    return Taxonomy(life_events=data["life_events"], sensitive=data["sensitive"])
