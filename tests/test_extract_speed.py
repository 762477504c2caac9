"""Extraction does its costly work once per call: one batched embedding, rules only where read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callscout.extract import Extractor, HashingEncoder, pipeline
from callscout.extract.needs import need_candidates
from callscout.extract.rules import load_rules
from callscout.match.catalogue import load_catalogue
from callscout.records import Segment, Transcript

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

CALL = (
    ("agent", "Guten Tag, wie kann ich Ihnen helfen? Wir haben gerade neue Tarife."),
    ("customer", "Wir möchten jeden Monat etwas Geld für später zurücklegen. Meine Frau arbeitet jetzt wieder Vollzeit."),
    ("agent", "Verstehe. Wie viel möchten Sie denn monatlich anlegen?"),
    ("customer", "So etwa zweihundert Euro im Monat wären für uns gut machbar."),
)


class CountedEncoder:
    """The real hashing encoder; records the size of each batch it is asked to embed."""

    def __init__(self) -> None:
        self.encoder = HashingEncoder()
        self.name = self.encoder.name
        self.need_threshold = self.encoder.need_threshold
        self.need_margin = self.encoder.need_margin
        self.batches: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        return self.encoder.encode(texts)


def transcript(turns) -> Transcript:
    return Transcript(segments=[Segment(speaker=r, text=t, start=float(i), end=i + 0.5) for i, (r, t) in enumerate(turns)], language="de")


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(FIXTURES / "catalogues" / "finanz.yaml")


def test_a_calls_sentences_are_embedded_in_one_batch(catalogue):
    encoder = CountedEncoder()
    extractor = Extractor(encoder=encoder)
    extractor.extract(transcript([("customer", "Hallo.")]), catalogue)  # embeds the catalogue once
    encoder.batches.clear()

    extractor.extract(transcript(CALL), catalogue)

    texts, _ = need_candidates(extractor.turns(transcript(CALL), "de"))
    assert len(texts) == 3
    assert encoder.batches == [3]


def test_events_and_cues_found_on_demand_are_the_marked_ones():
    for language, text in (
        ("de", "Wir ziehen im März um, aber Kinder wollen wir keine. Mein Bruder heiratet im Mai."),
        ("en", "We're off to New Zealand in January. I don't need a new phone, we bought one last year."),
    ):
        eager = pipeline.build_pipeline(language)(text)
        lazy = next(pipeline.get_pipeline(language).pipe([text]))
        cues = load_rules(language).cue_scanners
        assert "cues" not in lazy.spans and eager.spans["cues"]
        for marked, asked in zip(eager._.views, lazy._.views, strict=True):
            assert (asked.events, asked.sensitive) == (marked.events, marked.sensitive)
            assert {c: asked.cue_spans(c) for c in cues} == {c: marked.cue_spans(c) for c in cues}


def test_agent_sentences_no_answer_confirms_are_not_scanned_for_events(catalogue, monkeypatch):
    scanned: list[str] = []
    find = pipeline.RuleMatcher.find

    def counted(self, view):
        scanned.append(view.evidence)
        return find(self, view)

    monkeypatch.setattr(pipeline.RuleMatcher, "find", counted)
    Extractor(encoder=HashingEncoder()).extract(transcript(CALL), catalogue)
    assert "Wir haben gerade neue Tarife." not in scanned
    assert "So etwa zweihundert Euro im Monat wären für uns gut machbar." in scanned
