"""The spaCy components on blank pipelines, built by hand."""

from __future__ import annotations

import spacy

from callscout.extract.pipeline import build_pipeline
from callscout.extract.products import ProductMatcher, squash
from callscout.extract.rules import load_rules
from callscout.catalogue import parse_catalogue


def test_components_mark_events_and_cues():
    nlp = build_pipeline("de")
    assert {"callscout_views", "callscout_life_events", "callscout_cues"} <= set(nlp.pipe_names)
    doc = nlp("Kinder wollen wir keine. Wir ziehen im März um.")
    assert [s.label_ for s in doc.spans["life_events"]] == ["moving"]
    assert "negation" in {s.label_ for s in doc.spans["cues"]}


def test_views_survive_asr_text():
    doc = build_pipeline("de")("wir haben im juli ge heiratet also standes amt lich")
    assert [label for view in doc._.views for label, _, _ in view.events][:1] == ["marriage"]


def test_blank_pipeline_only():
    nlp = build_pipeline("en")
    assert nlp.meta.get("name") in (None, "pipeline") or not nlp.meta.get("vectors", {}).get("width")
    assert isinstance(nlp, spacy.language.Language)


def test_product_matcher_forms():
    catalogue = parse_catalogue(
        {
            "catalogue": "t",
            "products": [
                {"id": "laptop", "name": "Laptop"},
                {"id": "bag", "name": "Laptoptasche", "aliases": ["laptop bag"], "triggers": {"complements": ["laptop"]}},
                {"id": "liab", "name": "Haftpflicht", "aliases": ["liability insurance"], "triggers": {"needs": ["x"]}},
            ],
        }
    )
    nlp = build_pipeline("en")
    matcher = ProductMatcher(catalogue, load_rules("en"))
    view = nlp("we have liability and two bags for the laptops")._.views[0]
    assert {m.product_id for m in matcher.find(view)} == {"liab", "bag", "laptop"}
    assert squash("Haus rat-Versicherung") == "hausratversicherung"
