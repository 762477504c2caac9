"""The int8 copy of a float16 Whisper model: the values CTranslate2 would quantize at load,
written once; the same outputs; the model as it is wherever no copy can be made."""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from callscout.asr.int8_model import UnsupportedModel, _rewrite, int8_copy, read_variables, write_int8_copy
from callscout.asr.transcribe import whisper_model_path
from callscout.config import Config

F32, I8, F16 = 0, 1, 4


def _string(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("<H", len(encoded) + 1) + encoded + b"\0"


def write_model(folder: Path, variables: list[tuple[str, int, np.ndarray]], version: int = 6, spec: str = "WhisperSpec") -> Path:
    """A model.bin in CTranslate2's layout (independent of the module's own writer)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = struct.pack("<I", version) + _string(spec) + struct.pack("<II", 3, len(variables))
    for name, type_id, value in variables:
        data = value.tobytes()
        out += _string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<B", type_id) + struct.pack("<I", len(data)) + data
    out += struct.pack("<I", 1) + _string("decoder/projection/weight") + _string("decoder/embeddings/weight")
    (folder / "model.bin").write_bytes(out)
    (folder / "config.json").write_text("{}")
    (folder / ".verified").touch()
    return folder


@pytest.fixture
def small_model(tmp_path) -> Path:
    rng = np.random.default_rng(7)
    return write_model(
        tmp_path / "whisper-tiny-test",
        [
            ("decoder/embeddings/weight", F16, rng.normal(size=(6, 4)).astype(np.float16)),
            ("encoder/layer_0/ffn/linear_0/weight", F16, rng.normal(size=(3, 4)).astype(np.float16)),
            ("encoder/layer_0/ffn/linear_0/bias", F16, rng.normal(size=3).astype(np.float16)),
            ("encoder/conv1/weight", F16, rng.normal(size=(2, 3, 3)).astype(np.float16)),
            ("encoder/zero_row/weight", F16, np.zeros((2, 4), np.float16)),
            ("decoder/scale_embeddings", I8, np.array(1, np.int8)),
        ],
    )


def test_the_copy_holds_int8_weights_with_a_scale_per_row_and_float32_elsewhere(small_model, tmp_path):
    copy = Path(int8_copy(small_model, tmp_path / "models"))
    assert copy != small_model and copy.parent == tmp_path / "models" / "int8"
    source, quantized = read_variables(small_model / "model.bin"), read_variables(copy / "model.bin")

    for name in ("decoder/embeddings/weight", "encoder/layer_0/ffn/linear_0/weight"):
        weights, scale = quantized[name], quantized[f"{name}_scale"]
        assert weights.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (weights.shape[0],)
        assert np.abs(weights).max(axis=1).tolist() == [127] * weights.shape[0]  # each row's largest value
        original = source[name].astype(np.float32)
        assert np.allclose(weights / scale[:, None], original, atol=np.abs(original).max() / 127)
    # CTranslate2 leaves Whisper's convolutions unquantized; bias and the rest widen to float32
    assert quantized["encoder/conv1/weight"].dtype == np.float32 and "encoder/conv1/weight_scale" not in quantized
    assert np.array_equal(quantized["encoder/conv1/weight"], source["encoder/conv1/weight"].astype(np.float32))
    assert quantized["encoder/layer_0/ffn/linear_0/bias"].dtype == np.float32
    assert quantized["encoder/zero_row/weight"].tolist() == [[0] * 4] * 2  # an all-zero row, no division by 0
    assert quantized["decoder/scale_embeddings"].shape == () and quantized["decoder/scale_embeddings"] == 1
    assert (copy / "config.json").exists() and not (copy / ".verified").exists()
    assert (copy / "model.bin").read_bytes().endswith(_string("decoder/projection/weight") + _string("decoder/embeddings/weight"))


def test_the_copy_is_made_once_and_again_when_the_model_is_newer(small_model, tmp_path):
    models = tmp_path / "models"
    copy = Path(int8_copy(small_model, models))
    made = (copy / "model.bin").stat().st_mtime_ns
    assert int8_copy(small_model, models) == str(copy)
    assert (copy / "model.bin").stat().st_mtime_ns == made

    # a second run that found no copy and wrote one while this one was made keeps the first
    write_int8_copy(small_model, copy)
    assert (copy / "model.bin").stat().st_mtime_ns == made

    later = time.time() + 60
    os.utime(small_model / "model.bin", (later, later))
    assert int8_copy(small_model, models) == str(copy)
    assert (copy / "model.bin").stat().st_mtime_ns != made
    assert [p.name for p in (models / "int8").iterdir()] == [copy.name]  # no staging folder left


def test_the_model_itself_where_no_copy_can_or_need_be_made(small_model, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert int8_copy(small_model, not_a_dir) == str(small_model)

    quantized = Path(int8_copy(small_model, tmp_path / "models"))
    assert int8_copy(quantized, tmp_path / "more") == str(quantized)  # already int8
    written = io.BytesIO()
    with open(quantized / "model.bin", "rb") as reader, pytest.raises(UnsupportedModel, match="int8 already"):
        _rewrite(reader, written)
    assert len(written.getvalue()) < 40  # found at its first weight, before the rest is copied
    other = write_model(tmp_path / "old", [("w/weight", F16, np.ones((2, 2), np.float16))], version=5)
    assert int8_copy(other, tmp_path / "models") == str(other)
    bfloat = write_model(tmp_path / "bf16", [("w/weight", 5, np.ones((2, 2), np.float16))])
    assert int8_copy(bfloat, tmp_path / "models") == str(bfloat)
    cut = write_model(tmp_path / "cut", [("w/weight", F16, np.ones((4, 4), np.float16))])
    (cut / "model.bin").write_bytes((cut / "model.bin").read_bytes()[:40])
    assert int8_copy(cut, tmp_path / "models") == str(cut)
    assert not any(p.name.startswith(("old", "bf16", "cut")) for p in (tmp_path / "models" / "int8").iterdir())


def test_models_list_names_the_copy_once_it_is_made(tmp_path):
    from callscout.asr.models import list_models

    model = write_model(tmp_path / "models" / "whisper-small", [("w/weight", F16, np.ones((2, 2), np.float16))])
    assert "int8 copy" not in {i.name: i for i in list_models(tmp_path / "models")}["small"].note
    copy = int8_copy(model, tmp_path / "models")
    assert {i.name: i for i in list_models(tmp_path / "models")}["small"].note == f"local folder; int8 copy for the CPU at {copy}"


def test_the_transcriber_loads_the_copy_only_for_int8_on_the_cpu(small_model, tmp_path):
    config = Config(whisper_model=str(small_model), models_dir=str(tmp_path / "models"))
    copy = whisper_model_path(config, "cpu", "int8")
    assert Path(copy).parent == tmp_path / "models" / "int8"
    assert whisper_model_path(config, "cpu", "int8_float32") == copy
    assert whisper_model_path(config, "cpu", "float32") == str(small_model)
    assert whisper_model_path(config, "cuda", "int8_float16") == str(small_model)
    off = Config(whisper_model=str(small_model), models_dir=str(tmp_path / "models"), int8_model_copy=False)
    assert whisper_model_path(off, "cpu", "int8") == str(small_model)


@pytest.mark.slow
def test_ctranslate2_gives_bit_identical_outputs_from_the_copy_and_loads_it_faster(shared_dir, tmp_path):
    import ctranslate2
    from faster_whisper import WhisperModel, decode_audio

    from callscout.asr.models import resolve_whisper_model

    source = resolve_whisper_model("base")
    copy = int8_copy(source, tmp_path)
    assert copy != source

    def load_cpu_seconds(path: str) -> float:
        started = time.process_time()
        ctranslate2.models.Whisper(path, device="cpu", compute_type="int8")
        return time.process_time() - started

    assert min(load_cpu_seconds(copy) for _ in range(2)) < 0.6 * min(load_cpu_seconds(source) for _ in range(2))

    audio = decode_audio(str(shared_dir / "realaudio" / "faster-whisper" / "jfk.flac"))
    outputs = []
    for path in (source, copy):
        model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1)
        features = model.feature_extractor(audio)[:, :3000]
        encoded = model.encode(features)
        prompt = [model.hf_tokenizer.token_to_id(t) for t in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")]
        result = model.model.generate(encoded, [prompt], beam_size=1, return_scores=True)[0]
        outputs.append((np.array(encoded), result.sequences_ids[0], result.scores[0]))
    (encoded_a, tokens_a, score_a), (encoded_b, tokens_b, score_b) = outputs
    assert np.array_equal(encoded_a, encoded_b)
    assert tokens_a == tokens_b and len(tokens_a) > 5 and score_a == score_b
