"""Signals from one transcript: the extraction stage of the pipeline."""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from callscout.extract.encoders import Encoder, load_encoder
from callscout.extract.event_heads import cue_features, load_heads
from callscout.extract.events import event_candidates, life_event_signals, sensitive_signals
from callscout.extract.language import guess_language
from callscout.extract.needs import NEED_MARGIN, OFFER_EXTRA, NeedIndex, candidate_vectors, need_candidates, need_signals
from callscout.extract.ownership import ownership_signals
from callscout.extract.products import ProductMatcher
from callscout.extract.requests import request_signals
from callscout.extract.rules import SUPPORTED_LANGUAGES, load_rules
from callscout.extract.turns import Turn, best_per_label
from callscout.match.catalogue import Catalogue
from callscout.records import Signal, Transcript

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

log = logging.getLogger("callscout")


@lru_cache(maxsize=1)
def _blas_libraries() -> ThreadpoolController | None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # only a matter of speed
        return None
    return ThreadpoolController()  # finds the loaded BLAS libraries once


def one_blas_thread() -> AbstractContextManager:
    """One BLAS thread while a call is extracted. Its matrix products are small, and a
    second OpenBLAS thread only spins, or, when another process holds the other core of a
    two-core machine, waits for it: the scoring then ran many times slower (bench/extract_bench.py)."""
    libraries = _blas_libraries()
    return libraries.limit(limits=1, user_api="blas") if libraries is not None else nullcontext()


class Extractor:
    """Finds life events, needs, owned, already held, declined and requested products and sensitive topics.

    spaCy pipelines are built once per process; catalogue need embeddings once per catalogue.
    """

    def __init__(self, encoder: Encoder | None = None, need_threshold: float | None = None):
        self._encoder = encoder
        self._need_threshold = need_threshold
        self._matchers: dict[tuple[Catalogue, str], ProductMatcher] = {}
        self._indexes: dict[Catalogue, NeedIndex] = {}
        self._lock = threading.Lock()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder()
        return self._encoder

    @property
    def need_threshold(self) -> float:
        return self._need_threshold if self._need_threshold is not None else self.encoder.need_threshold

    @property
    def offer_threshold(self) -> float:
        # Naming an offer for a bare "no"/"got it" needs a surer match than a need does.
        return self.need_threshold + OFFER_EXTRA

    @property
    def need_margin(self) -> float:
        return getattr(self.encoder, "need_margin", NEED_MARGIN)

    def language_of(self, transcript: Transcript) -> str:
        if transcript.language in SUPPORTED_LANGUAGES:
            return transcript.language
        return guess_language(" ".join(s.text for s in transcript.segments[:40]))

    def turns(self, transcript: Transcript, language: str) -> list[Turn]:
        from callscout.extract.pipeline import get_pipeline  # spaCy loads on first use only

        nlp = get_pipeline(language)
        docs = nlp.pipe(segment.text or "" for segment in transcript.segments)
        return [Turn(i, segment, doc._.views or []) for i, (segment, doc) in enumerate(zip(transcript.segments, docs))]

    def extract(self, transcript: Transcript, catalogue: Catalogue) -> list[Signal]:
        with one_blas_thread():
            return self._extract(transcript, catalogue)

    def _extract(self, transcript: Transcript, catalogue: Catalogue) -> list[Signal]:
        language = self.language_of(transcript)
        rules = load_rules(language)
        turns = self.turns(transcript, language)
        index = self._index(catalogue)
        texts, candidates = need_candidates(turns, rules)
        heads = load_heads()
        if heads is not None and heads.encoder != self.encoder.name:
            heads = None  # trained on another encoder's space
        unread = event_candidates(turns, rules) if heads is not None else []
        # One encoder call for the need candidates and the sentences the event heads read.
        unique = list(dict.fromkeys([*texts, *(view.evidence for view in unread)]))
        encoded = self.encoder.encode(unique) if unique else np.zeros((0, 1), np.float32)
        row = {text: n for n, text in enumerate(unique)}
        vectors = candidate_vectors(candidates, encoded[[row[t] for t in texts]]) if texts else np.zeros((0, 1), np.float32)
        proposals = {}
        if unread:
            features = np.stack([cue_features(view, rules) for view in unread])
            found = heads.propose(encoded[[row[view.evidence] for view in unread]], features)
            proposals = {id(view): proposal for view, proposal in zip(unread, found) if proposal is not None}

        def resolve_offer(agent: Turn) -> list[str]:
            text = " ".join(view.evidence for view in agent.views[-2:])
            named = index.resolve_offer(text, None, self.offer_threshold)
            return named or index.resolve_offer(text, self.encoder.encode([text])[0], self.offer_threshold)

        matcher = self._matcher(catalogue, language)
        signals = (
            life_event_signals(turns, rules, proposals)
            + sensitive_signals(turns, rules)
            + ownership_signals(turns, matcher, rules, resolve_offer)
            + need_signals(candidates, vectors, index, self.need_threshold, self.need_margin)
        )
        # Products asked for by name; ownership's reading of "haben Sie ...?" as possession yields.
        return best_per_label(request_signals(turns, matcher, rules, signals))

    def _matcher(self, catalogue: Catalogue, language: str) -> ProductMatcher:
        key = (catalogue, language)
        with self._lock:
            if key not in self._matchers:
                self._matchers[key] = ProductMatcher(catalogue, load_rules(language))
            return self._matchers[key]

    def _index(self, catalogue: Catalogue) -> NeedIndex:
        with self._lock:
            if catalogue not in self._indexes:
                log.debug("embedding the need sentences of catalogue %s", catalogue.name)
                self._indexes[catalogue] = NeedIndex.build(catalogue, self.encoder)
            return self._indexes[catalogue]
