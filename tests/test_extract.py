"""Fast tests of extraction on spaCy blank pipelines with the fake hashing encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscout.extract import Extractor, HashingEncoder, guess_language
from callscout.match.catalogue import load_catalogues
from callscout.records import Segment, Transcript

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def catalogues():
    return load_catalogues(SHARED / "catalogues")


@pytest.fixture(scope="module")
def extractor():
    return Extractor(encoder=HashingEncoder())


def call(*turns: tuple[str, str], language: str | None = None) -> Transcript:
    return Transcript(segments=[Segment(speaker=r, text=t, start=float(i), end=i + 0.5) for i, (r, t) in enumerate(turns)], language=language)


def labels(signals, kind: str) -> set[str]:
    return {s.label for s in signals if s.kind == kind}


def test_guess_language():
    assert guess_language("Wir haben im Juli geheiratet und ziehen jetzt um") == "de"
    assert guess_language("we got married in july and we're moving now") == "en"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Wir ziehen im März nach Köln um.", {"moving"}),
        ("Kinder sind bei uns kein Thema.", set()),
        ("Falls wir irgendwann ein Haus kaufen, melde ich mich.", set()),
        ("Meine Schwester hat im Sommer geheiratet.", set()),
        ("Wir sind seit 20 Jahren verheiratet.", set()),
        ("Das Haus haben wir 1998 gekauft.", set()),
        ("We're not planning to move.", set()),
        ("Maybe someday we'll get a dog.", set()),
        ("I retired in 2015.", set()),
        ("I've gone freelance since January.", {"self_employment"}),
        ("We're off to New Zealand in January for two months.", {"travel_abroad"}),
        ("We were in Spain in August, but that was ages ago.", set()),
    ],
)
def test_life_events_from_customer_statements(extractor, catalogues, text, expected):
    signals = extractor.extract(call(("customer", text)), catalogues["finanz"])
    assert labels(signals, "life_event") == expected


def test_agent_question_counts_only_when_confirmed(extractor, catalogues):
    question = ("agent", "Fängt Ihr Sohn im Herbst mit dem Studium an?")
    yes = extractor.extract(call(question, ("customer", "Ja, genau.")), catalogues["finanz"])
    no = extractor.extract(call(question, ("customer", "Nee, der arbeitet erst mal.")), catalogues["finanz"])
    assert labels(yes, "life_event") == {"education_start"}
    assert labels(no, "life_event") == set()


def test_agent_statement_alone_is_no_life_event(extractor, catalogues):
    signals = extractor.extract(call(("agent", "Viele ziehen nach der Hochzeit um."), ("customer", "Aha.")), catalogues["finanz"])
    assert labels(signals, "life_event") == set()


def test_sensitive_topics_and_idioms(extractor, catalogues):
    sick = extractor.extract(call(("customer", "Mein Vater liegt seit Sonntag im Krankenhaus.")), catalogues["finanz"])
    idiom = extractor.extract(call(("customer", "My daughter nearly had a heart attack when she saw it.")), catalogues["finanz"])
    assert labels(sick, "sensitive") == {"health"}
    assert labels(idiom, "sensitive") == set()


def test_owned_product_with_asr_split_and_brand(extractor, catalogues):
    signals = extractor.extract(call(("customer", "ich hab mir gestern das iphone gekauft")), catalogues["technik"])
    assert "smartphone" in labels(signals, "owned")


def test_already_has_named_and_split(extractor, catalogues):
    text = "die haus rat versicherung haben wir schon seit jahren"
    signals = extractor.extract(call(("customer", text)), catalogues["finanz"])
    assert "hausrat" in labels(signals, "already_has")


def test_decline_without_naming_refers_to_agent_offer(extractor, catalogues):
    signals = extractor.extract(
        call(("agent", "Möchten Sie noch den Ernährungsplan dazu?"), ("customer", "Nee, lass mal weg.")), catalogues["technik"]
    )
    assert labels(signals, "declined") == {"ernaehrungsplan"}


def test_reported_decline_is_no_decline(extractor, catalogues):
    signals = extractor.extract(
        call(("agent", "Wie wäre eine Hausratversicherung?"), ("customer", "mein mann hat immer gesagt brauch ich nicht")),
        catalogues["finanz"],
    )
    assert labels(signals, "declined") == set()


def test_signals_carry_evidence_and_timing(extractor, catalogues):
    signals = extractor.extract(call(("agent", "Hallo"), ("customer", "Wir haben im Juli geheiratet.")), catalogues["finanz"])
    event = next(s for s in signals if s.kind == "life_event")
    assert event.evidence == "Wir haben im Juli geheiratet."
    assert (event.speaker, event.start, event.end, event.segment_idx) == ("customer", 1.0, 1.5, 1)
    assert 0 <= event.confidence <= 1


def test_unknown_language_is_guessed(extractor, catalogues):
    signals = extractor.extract(call(("customer", "we just bought a house and got the keys on friday")), catalogues["finanz"])
    assert labels(signals, "life_event") == {"home_purchase"}


# --- needs, concepts, offers and purchases (fast twins of the dev-set behaviour) ---


def test_need_concepts_widen_matching_products_only():
    from callscout.extract.needs import NeedIndex, concepts_for
    from callscout.extract.rules import load_concepts
    from callscout.match.catalogue import parse_catalogue

    catalogue = parse_catalogue(
        {
            "catalogue": "other",
            "products": [
                {"id": "contents", "name": "Home contents insurance", "triggers": {"needs": ["Protect my things"]}},
                {"id": "tv", "name": "Television", "triggers": {"needs": ["I want a bigger screen"]}},
            ],
        }
    )
    names = {c.name for c in concepts_for(catalogue.product("contents"), load_concepts())}
    assert "burglary_theft" in names and not concepts_for(catalogue.product("tv"), load_concepts())
    index = NeedIndex.build(catalogue, HashingEncoder())
    assert index.need_products.count("contents") > 1 and index.need_products.count("tv") == 1


def test_need_needs_margin_over_other_products(extractor, catalogues):
    text = "Ich habe Geld auf dem Girokonto liegen, das keine Zinsen bringt."
    signals = extractor.extract(call(("customer", text)), catalogues["finanz"])
    assert labels(signals, "need") == {"geldanlage"}


def test_need_in_a_story_of_the_long_past_does_not_count(catalogues):
    from callscout.extract.needs import need_candidates

    extractor = Extractor(encoder=HashingEncoder())
    past = call(("customer", "Die gesetzliche Rente hat damals schon nicht gereicht, neunzehnhundertachtzig."), language="de")
    now = call(("customer", "Die gesetzliche Rente wird bei mir später nicht reichen."), language="de")
    assert need_candidates(extractor.turns(past, "de"))[0] == []
    assert len(need_candidates(extractor.turns(now, "de"))[0]) == 1


def test_vague_wish_is_no_need(extractor, catalogues):
    text = "Maybe someday our dog might bite someone or damage something."
    assert labels(extractor.extract(call(("customer", text)), catalogues["finanz"]), "need") == set()


def test_neighbour_sentences_are_scored_together():
    import numpy as np

    from callscout.extract.needs import Candidate, candidate_vectors

    vectors = np.eye(2, dtype=np.float32)
    rows = candidate_vectors([Candidate(None, "a", (0,)), Candidate(None, "a b", (0, 1))], vectors)
    assert np.allclose(rows[0], [1, 0]) and np.allclose(rows[1], [2**-0.5, 2**-0.5])


def test_unnamed_have_it_resolves_by_topic_keyword(extractor, catalogues):
    signals = extractor.extract(
        call(("agent", "And what about your belongings?"), ("customer", "We've got a policy with you for those already.")),
        catalogues["finanz"],
    )
    assert labels(signals, "already_has") == {"hausrat"}


def test_purchase_verbs_make_a_product_owned(extractor, catalogues):
    signals = extractor.extract(call(("customer", "I just picked up the iPhone at your store this morning.")), catalogues["technik"])
    assert "smartphone" in labels(signals, "owned")


def test_wish_about_an_activity_is_no_decline(extractor, catalogues):
    signals = extractor.extract(
        call(("agent", "There are funds with lower risk."), ("customer", "I don't want to be checking the stock market every day.")),
        catalogues["finanz"],
    )
    assert labels(signals, "declined") == set()
