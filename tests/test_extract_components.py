"""The spaCy components on blank pipelines, built by hand."""

from __future__ import annotations

import spacy

from callscout.extract.pipeline import build_pipeline
from callscout.extract.products import ProductMatcher, squash
from callscout.extract.rules import load_rules
from callscout.match.catalogue import parse_catalogue


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


def test_hesitations_do_not_split_patterns_but_words_stay():
    en = build_pipeline("en")("yes my wife and i are off uh to new zealand in january")
    assert [label for view in en._.views for label, _, _ in view.events] == ["travel_abroad"]
    assert "uh" not in en._.views[0].words
    de = build_pipeline("de")("wir ziehen äh im märz um")
    assert "um" in de._.views[0].words and "äh" not in de._.views[0].words
    assert [label for view in de._.views for label, _, _ in view.events] == ["moving"]


def test_run_on_turns_are_scored_in_pieces():
    from callscout.extract.needs import run_on_pieces

    nlp = build_pipeline("de")
    run_on = nlp("gut gut viel los gerade und wir haben jetzt ziemlich viel neu gekauft sofa küche das ganze programm "
                 "aber da wär's schon blöd wenn da was passiert und dann noch die sache mit dem auto")
    pieces = run_on_pieces(run_on._.views[0])
    assert len(pieces) >= 3 and all(len(p.split()) >= 6 for p in pieces)
    assert " ".join(pieces) == run_on._.views[0].text
    punctuated = nlp("Gut, gut, viel los gerade, und wir haben jetzt ziemlich viel neu gekauft, Sofa, Küche, "
                     "das ganze Programm, aber da wär's schon blöd, wenn da was passiert, und dann das Auto.")
    assert run_on_pieces(punctuated._.views[0]) == []


def test_lemmas_are_spacys_lookup_lemmas():
    """``callscout_lemmas`` loads the table as a plain dict; the lemmas must stay spaCy's own."""
    texts = {
        "de": "Wir haben im Juli geheiratet und ziehen nächstes Jahr in ein Haus. Die Kinder gingen zur Schule, "
        "meine Frau arbeitete bei der Versicherung. wir hatten keine Verträge abgeschlossen, Häuser Bäume äh Autos.",
        "en": "We were married in July and are moving into houses next year. The children went to schools, "
        "my wife worked at the insurers. we had not signed any contracts, um, cars leaves better mice.",
    }
    for language, text in texts.items():
        spacys = spacy.blank(language)
        spacys.add_pipe("lemmatizer", config={"mode": "lookup"})
        spacys.initialize()
        ours = build_pipeline(language)
        assert "lemmatizer" not in ours.pipe_names
        expected = [t.lemma_ for t in spacys(text)]
        assert [t.lemma_ for t in ours(text)] == expected
        assert sum(lemma != t.text for lemma, t in zip(expected, spacys(text))) >= 8  # the table did its work
