"""Product-complement catalogues: load, validate, and look up products.

The format is described in the README ("Catalogue format"). A file that breaks it is
refused whole with a ``CatalogueError`` naming the file, the product and the field.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from callscout import yamlfile
from callscout.match.taxonomy import load_taxonomy
from callscout.records import Pitch

PRODUCT_ID = re.compile(r"^[a-z0-9_]+$")
PITCH_ID = re.compile(r"^[A-Za-z0-9_-]+$")
DEFAULT_PITCH = "default"
TOP_KEYS = ("catalogue", "language", "policy", "products")
PRODUCT_KEYS = ("id", "name", "category", "aliases", "triggers", "pitch", "pitches")
TRIGGER_KEYS = ("life_events", "needs", "complements")
PITCH_KEYS = ("id", "text")


class CatalogueError(ValueError):
    """A catalogue file that does not follow the format."""


@dataclass(frozen=True)
class Policy:
    max_opportunities_per_call: int = 4
    min_score: float = 0.0
    # Drop every opportunity of a call that touched a sensitive topic (health, bereavement).
    suppress_sensitive_calls: bool = False
    # Contact policy across a customer's calls (see customers.py): a product declined in an
    # earlier call, or lost in the CRM, is held back this long; 0 turns the cooldown off.
    decline_cooldown_days: int = 90
    # At most this many open opportunities per customer (in this catalogue); the rest are held.
    max_open_per_customer: int = 3


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str = ""
    aliases: tuple[str, ...] = ()
    life_events: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()
    pitch: str = ""  # the only pitch, or the first of ``pitches``
    pitches: tuple[Pitch, ...] = ()  # A/B variants; one ``default`` variant when only ``pitch`` is given

    @property
    def has_triggers(self) -> bool:
        return bool(self.life_events or self.needs or self.complements)

    @property
    def names(self) -> tuple[str, ...]:
        """The product's name and aliases, without duplicates, longest first."""
        unique = dict.fromkeys((self.name, *self.aliases))
        return tuple(sorted(unique, key=len, reverse=True))


@dataclass(frozen=True)
class Catalogue:
    name: str
    language: str
    products: tuple[Product, ...]
    policy: Policy = field(default_factory=Policy)
    path: str = ""

    def product(self, product_id: str) -> Product:
        for product in self.products:
            if product.id == product_id:
                return product
        raise KeyError(product_id)

    def complemented_by(self, owned_id: str) -> list[Product]:
        """Products whose ``complements`` trigger names ``owned_id``."""
        return [p for p in self.products if owned_id in p.complements]


def load_catalogue(path: str | Path) -> Catalogue:
    path = Path(path)
    try:
        data = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read catalogue: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {_one_line(exc)}") from exc
    return parse_catalogue(data, source=str(path))


def load_catalogues(folder: str | Path) -> dict[str, Catalogue]:
    """Every ``*.yaml``/``*.yml`` catalogue in a folder, by catalogue name."""
    catalogues = {}
    for path in sorted(Path(folder).glob("*.y*ml")):
        catalogue = load_catalogue(path)
        catalogues[catalogue.name] = catalogue
    return catalogues


def parse_catalogue(data: object, source: str = "<catalogue>") -> Catalogue:
    def fail(where: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{source}: {where}: {problem}")

    if not isinstance(data, dict):
        raise fail("top level", "expected a mapping with 'catalogue' and 'products'")
    if (key := _unknown_key(data, TOP_KEYS)) is not None:
        raise fail(f"field '{key}'", f"unknown key {_hint(key, TOP_KEYS)}")
    name = data.get("catalogue")
    if not isinstance(name, str) or not name.strip():
        raise fail("field 'catalogue'", "missing or not a string")
    language = data.get("language", "de")
    if not isinstance(language, str):
        raise fail("field 'language'", "not a string")
    policy = _parse_policy(data.get("policy") or {}, fail)
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise fail("field 'products'", "missing or not a non-empty list")
    products = [_parse_product(raw, position, fail) for position, raw in enumerate(raw_products, 1)]
    _check_references(products, fail)
    return Catalogue(name=name, language=language, products=tuple(products), policy=policy, path=source)


def _parse_policy(raw: object, fail) -> Policy:
    if not isinstance(raw, dict):
        raise fail("field 'policy'", "not a mapping")
    known = tuple(Policy.__dataclass_fields__)
    if (key := _unknown_key(raw, known)) is not None:
        raise fail(f"policy field '{key}'", f"unknown key {_hint(key, known)}")
    values = dict(raw)
    if "max_opportunities_per_call" in values:
        limit = values["max_opportunities_per_call"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise fail("policy field 'max_opportunities_per_call'", "must be a whole number >= 1")
    if "min_score" in values:
        score = values["min_score"]
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0 <= score <= 1:
            raise fail("policy field 'min_score'", "must be a number between 0 and 1")
        values["min_score"] = float(score)
    if "suppress_sensitive_calls" in values and not isinstance(values["suppress_sensitive_calls"], bool):
        raise fail("policy field 'suppress_sensitive_calls'", "must be true or false")
    for key, least in (("decline_cooldown_days", 0), ("max_open_per_customer", 1)):
        if key in values and not _whole(values[key], least):
            raise fail(f"policy field '{key}'", f"must be a whole number >= {least}")
    return Policy(**values)


def _whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _parse_product(raw: object, position: int, fail) -> Product:
    if not isinstance(raw, dict):
        raise fail(f"product #{position}", "not a mapping")
    product_id = raw.get("id")
    valid_id = isinstance(product_id, str) and PRODUCT_ID.match(product_id)
    # Unknown keys first, so that a misspelt ``id`` gets its suggestion rather than "missing".
    where = f"product '{product_id}'" if valid_id else f"product #{position}"
    if (key := _unknown_key(raw, PRODUCT_KEYS)) is not None:
        raise fail(f"{where}, field '{key}'", f"unknown key {_hint(key, PRODUCT_KEYS)}")
    if not valid_id:
        raise fail(f"{where}, field 'id'", "missing or not a slug of [a-z0-9_]")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail(f"{where}, field 'name'", "missing or not a string")
    for key in ("category", "pitch"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"{where}, field '{key}'", "not a string")
    pitches = _parse_pitches(raw, where, fail)
    triggers = raw.get("triggers") or {}
    if not isinstance(triggers, dict):
        raise fail(f"{where}, field 'triggers'", "not a mapping")
    if (key := _unknown_key(triggers, TRIGGER_KEYS)) is not None:
        raise fail(f"{where}, field 'triggers.{key}'", f"unknown trigger {_hint(key, TRIGGER_KEYS)}")
    known_events = tuple(load_taxonomy().life_events)
    life_events = _strings(triggers.get("life_events"), f"{where}, field 'triggers.life_events'", fail)
    if (event := _unknown_key(life_events, known_events)) is not None:
        raise fail(f"{where}, field 'triggers.life_events'", f"unknown life event id '{event}' {_hint(event, known_events)}")
    return Product(
        id=product_id,
        name=name.strip(),
        category=raw.get("category", ""),
        aliases=_strings(raw.get("aliases"), f"{where}, field 'aliases'", fail),
        life_events=life_events,
        needs=_strings(triggers.get("needs"), f"{where}, field 'triggers.needs'", fail),
        complements=_strings(triggers.get("complements"), f"{where}, field 'triggers.complements'", fail),
        pitch=pitches[0].text if pitches else "",
        pitches=pitches,
    )


def _parse_pitches(raw: dict, where: str, fail) -> tuple[Pitch, ...]:
    """``pitches: [{id, text}, ...]`` (A/B variants), else ``pitch`` as the one ``default`` variant."""
    if "pitches" not in raw:
        text = (raw.get("pitch") or "").strip()
        return (Pitch(DEFAULT_PITCH, text),) if text else ()
    if "pitch" in raw:
        raise fail(f"{where}, field 'pitches'", "give either 'pitch' or 'pitches', not both")
    value = raw["pitches"]
    if not isinstance(value, list) or not value:
        raise fail(f"{where}, field 'pitches'", "expected a non-empty list of {id, text}")
    pitches: list[Pitch] = []
    for position, item in enumerate(value, 1):
        place = f"{where}, field 'pitches' #{position}"
        if not isinstance(item, dict):
            raise fail(place, "expected a mapping with 'id' and 'text'")
        if (key := _unknown_key(item, PITCH_KEYS)) is not None:
            raise fail(place, f"unknown key '{key}' {_hint(key, PITCH_KEYS)}")
        pitch_id, text = item.get("id"), item.get("text")
        if not isinstance(pitch_id, str) or not PITCH_ID.match(pitch_id):
            raise fail(place, "'id' missing or not a slug of [A-Za-z0-9_-]")
        if any(p.id == pitch_id for p in pitches):
            raise fail(place, f"duplicate pitch id '{pitch_id}'")
        if not isinstance(text, str) or not text.strip():
            raise fail(place, "'text' missing or empty")
        pitches.append(Pitch(pitch_id, text.strip()))
    return tuple(pitches)


def _unknown_key(keys, known: tuple[str, ...]) -> object | None:
    """The first of ``keys`` that is not in ``known``, else None."""
    return next((key for key in keys if key not in known), None)


def _hint(key: object, known: tuple[str, ...]) -> str:
    """``(did you mean 'x'?)`` for the closest known name, else ``(known: a, b, ...)``."""
    close = difflib.get_close_matches(str(key).lower(), known, n=1)
    return f"(did you mean '{close[0]}'?)" if close else f"(known: {', '.join(known)})"


def _strings(value: object, where: str, fail) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(where, "expected a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _check_references(products: list[Product], fail) -> None:
    seen: set[str] = set()
    for product in products:
        if product.id in seen:
            raise fail(f"product '{product.id}', field 'id'", "duplicate product id")
        seen.add(product.id)
    for product in products:
        for target in product.complements:
            if target not in seen:
                raise fail(
                    f"product '{product.id}', field 'triggers.complements'",
                    f"'{target}' names no product in the catalogue",
                )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
