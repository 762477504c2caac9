"""The trained life-event heads: shipped weights, what they add to the rules, reproducible training.

The sentences here were written for these tests; they are in no call set and not in the
training data (training/*.jsonl). On 22 such sentences (14 events, 8 topic talk without one)
rules plus heads were right on 17; the heads alone added the four marked "proposed"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from callscout.extract.event_heads import CUES, EventHeads, load_heads

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_heads_fit_the_default_encoder_and_the_taxonomy():
    from callscout.match.taxonomy import load_taxonomy

    heads = load_heads()
    assert heads is not None and heads.encoder == "use"
    taxonomy = load_taxonomy()
    assert set(heads.classes) - {"none"} == set(taxonomy.life_events) | set(taxonomy.sensitive)
    dim = heads.topic_weights.shape[0]
    assert heads.topic_weights.shape == (dim, len(heads.classes))
    assert heads.counts_weights.shape == (dim + len(CUES) + 3,)


def test_a_proposal_needs_both_heads_to_be_sure():
    classes = ("moving", "none")
    heads = EventHeads("use", classes, np.array([[4.0, -4.0], [-4.0, 4.0]], np.float32), np.zeros(2, np.float32),
                       np.array([3.0, -3.0, 6.0], np.float32), 0.0)
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    features = np.array([[1.0], [1.0], [-1.0]], np.float32)  # the last one: the counts head says no
    proposals = heads.propose(vectors, features)
    assert proposals[0] is not None and proposals[0].label == "moving"
    assert proposals[1] is None and proposals[2] is None
    assert heads.propose(np.zeros((0, 2), np.float32), np.zeros((0, 1), np.float32)) == []


@pytest.fixture(scope="module")
def extract_events():
    from callscout.extract import Extractor
    from callscout.extract.encoders import load_encoder
    from callscout.match.catalogue import load_catalogue
    from callscout.records import Segment, Transcript

    extractor = Extractor(encoder=load_encoder("use", ROOT / "models"))
    catalogue = load_catalogue(ROOT / "fixtures" / "catalogues" / "finanz.yaml")

    def events(language: str, text: str) -> dict[str, float]:
        signals = extractor.extract(Transcript([Segment("customer", text)], language), catalogue)
        return {s.label: s.confidence for s in signals if s.kind == "life_event"}

    return events


@pytest.mark.slow
@pytest.mark.parametrize(
    "language, text, event",
    [
        ("de", "Ab Oktober wohnen wir in Köln.", "moving"),
        ("de", "Beim Notar waren wir letzte Woche, im März kriegen wir die Schlüssel für das Haus.", "home_purchase"),
        ("en", "From October we'll be living in Leeds.", "moving"),
        ("en", "We signed at the solicitor's, keys in March.", "home_purchase"),
    ],
)
def test_the_heads_propose_paraphrased_events_the_rules_miss(extract_events, language, text, event):
    from callscout.extract.events import PROPOSED

    assert extract_events(language, text) == {event: PROPOSED}


@pytest.mark.slow
@pytest.mark.parametrize(
    "language, text",
    [
        ("de", "Wir wohnen seit zwanzig Jahren in Köln."),
        ("de", "Mein Nachbar übernimmt die Praxis."),
        ("de", "Unser Hund ist jetzt vierzehn."),
        ("de", "Das Auto läuft noch super."),
        ("en", "We've lived in Leeds for twenty years."),
        ("en", "My neighbour is taking over the practice."),
        ("en", "The car's running fine."),
        ("en", "I'm the office manager."),
    ],
)
def test_talk_about_an_events_things_is_no_event(extract_events, language, text):
    assert extract_events(language, text) == {}


@pytest.mark.slow
def test_the_training_script_reproduces_the_shipped_weights(tmp_path):
    output = tmp_path / "heads.npz"
    run = subprocess.run([sys.executable, str(ROOT / "training" / "train_event_heads.py"), "--output", str(output)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    shipped = ROOT / "src" / "callscout" / "data" / "models" / "life_event_heads.npz"
    with np.load(output) as fresh, np.load(shipped) as kept:
        assert str(fresh["data_sha256"]) == str(kept["data_sha256"])  # the weights come from this data
        for key in ("topic_weights", "topic_bias", "counts_weights", "counts_bias"):
            np.testing.assert_allclose(fresh[key], kept[key], atol=1e-4)
