"""Needs: customer sentences that mean the same as a product's ``needs`` example sentences.

Each product's example sentences are widened by the generic need concepts of
``rules/needs.yaml`` that apply to it (matched by the product's name and aliases), and
embedded once per catalogue and encoder. Customer sentences of a call are embedded in one
batch; two neighbouring sentences of a turn are also scored together (the normalised sum
of their vectors), since a need is often told across both. Clauses about the long past
("ich bin ja schon seit zweitausendelf in Rente") are left out before embedding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from callscout.extract.cues import assess_trigger
from callscout.extract.encoders import Encoder
from callscout.extract.rules import NeedConcept, RuleSet, load_concepts
from callscout.extract.turns import Turn, make_signal
from callscout.extract.views import SentenceView
from callscout.match.catalogue import Catalogue, Product
from callscout.records import Signal

MIN_WORDS = 5
# Up to this length a sentence with a long-past cue is one story of the past; a longer one
# (ASR text without punctuation runs a whole turn together) only loses the past clauses.
STORY_WORDS = 25
# Resolving an unnamed offer ("Nein, bitte nicht") to a product needs a clearer match.
OFFER_MARGIN = 0.05
OFFER_EXTRA = 0.10  # above the need threshold
RUN_ON_WORDS = 20
PIECE_WORDS = 6
PUNCTUATION = re.compile(r"[.,;:!?]")
# How much nearer a need sentence must be to a product than to the average product.
NEED_MARGIN = 0.25


@dataclass
class NeedIndex:
    """Embeddings of a catalogue's need sentences (with concept paraphrases), of one profile
    text per product, and the topic keywords of each product."""

    need_products: list[str]
    need_vectors: np.ndarray
    profile_products: list[str]
    profile_vectors: np.ndarray
    keywords: dict[str, re.Pattern]
    _columns: tuple | None = None

    @classmethod
    def build(cls, catalogue: Catalogue, encoder: Encoder, concepts: tuple[NeedConcept, ...] | None = None) -> "NeedIndex":
        concepts = load_concepts() if concepts is None else concepts
        pairs, keywords = [], {}
        for product in catalogue.products:
            if not product.needs:
                continue
            own = concepts_for(product, concepts)
            pairs.extend((product.id, s) for s in dict.fromkeys([*product.needs, *(s for c in own for s in c.sentences)]))
            words = sorted({k for c in own for k in c.keywords}, key=len, reverse=True)
            if words:
                keywords[product.id] = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
        profiles = [(p.id, _profile(p)) for p in catalogue.products if p.has_triggers]
        vectors = encoder.encode([s for _, s in pairs] + [t for _, t in profiles])
        return cls(
            need_products=[pid for pid, _ in pairs],
            need_vectors=vectors[: len(pairs)],
            profile_products=[pid for pid, _ in profiles],
            profile_vectors=vectors[len(pairs) :],
            keywords=keywords,
        )

    def product_scores(self, vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The products with need sentences and, per candidate row and product, the best
        cosine over that product's sentences."""
        if self._columns is None:
            products = list(dict.fromkeys(self.need_products))
            self._columns = (products, [np.array([i for i, p in enumerate(self.need_products) if p == q]) for q in products])
        products, columns = self._columns
        scores = vectors @ self.need_vectors.T
        return products, np.stack([scores[:, c].max(axis=1) for c in columns], axis=1)

    def best_needs(self, vectors: np.ndarray, centred: bool = False) -> dict[str, tuple[float, int]]:
        """For each product: its best score over the candidate rows and that row. ``centred``
        subtracts each row's mean over all products: a sentence near every product (a bare
        "Ich hab ne Frage zu meinen Versicherungen") says no particular need."""
        if not len(vectors) or not len(self.need_vectors):
            return {}
        products, scores = self.product_scores(vectors)
        if centred and scores.shape[1] > 1:
            scores = scores - scores.mean(axis=1, keepdims=True)
        rows = np.argmax(scores, axis=0)
        return {p: (float(scores[rows[j], j]), int(rows[j])) for j, p in enumerate(products)}

    def resolve_offer(self, text: str, vector: np.ndarray | None, threshold: float) -> list[str]:
        """The product an agent's words offer without naming it: by topic keyword
        ("what about your belongings?") when exactly one product's keywords occur, else by
        the embedding against product profiles and need sentences, with a margin."""
        named = [pid for pid, pattern in self.keywords.items() if pattern.search(text)]
        if len(named) == 1:
            return named
        if vector is None or not len(self.profile_vectors):
            return []
        scores = dict(zip(self.profile_products, (self.profile_vectors @ vector).tolist()))
        for product_id, (value, _) in self.best_needs(vector[None, :]).items():
            scores[product_id] = max(scores.get(product_id, -1.0), value)
        order = sorted(scores, key=scores.get, reverse=True)
        top = scores[order[0]]
        runner_up = scores[order[1]] if len(order) > 1 else -1.0
        if top >= threshold and top - runner_up >= OFFER_MARGIN:
            return [order[0]]
        return []


def concepts_for(product: Product, concepts: tuple[NeedConcept, ...]) -> list[NeedConcept]:
    names = [product.name, *product.aliases]
    return [c for c in concepts if c.applies(names)]


def _profile(product) -> str:
    return ". ".join([product.name, *product.aliases[:3], product.pitch])


@dataclass
class Candidate:
    turn: Turn
    text: str  # the evidence: one sentence, or two neighbours of the same turn
    rows: tuple[int, ...]  # rows of the embedded sentences it is made of


def need_candidates(turns: list[Turn], rules: RuleSet | None = None) -> tuple[list[str], list[Candidate]]:
    """Customer sentences worth embedding (long enough, not declining something, not a vague
    "maybe someday" wish, not told through a life event that does not count), and the
    candidates scored: each sentence, and each two neighbours."""
    texts: list[str] = []
    candidates: list[Candidate] = []
    for turn in turns:
        if not turn.is_customer:
            continue
        kept: list[tuple[int, SentenceView, int]] = []
        for position, view in enumerate(turn.views):
            if not worth_embedding(view) or (rules is not None and event_does_not_count(view, rules)):
                continue
            text = present_text(view)
            if not text:
                continue
            texts.append(text)
            kept.append((len(texts) - 1, view, position))
            candidates.append(Candidate(turn, view.evidence, (len(texts) - 1,)))
        for (row_a, a, position_a), (row_b, b, position_b) in zip(kept, kept[1:]):
            if position_b == position_a + 1:  # neighbours in the turn, not two sentences either side of a dropped one
                candidates.append(Candidate(turn, f"{a.evidence} {b.evidence}", (row_a, row_b)))
        for view in filter(worth_embedding, turn.views):
            for piece in run_on_pieces(view):
                texts.append(piece)
                candidates.append(Candidate(turn, piece, (len(texts) - 1,)))
    return texts, candidates


def event_does_not_count(view: SentenceView, rules: RuleSet) -> bool:
    """The sentence talks about a life event that does not count (negated, someone else's,
    long ago, called off, asked): a need told through it does not count either, as in
    "Nachwuchs steht bei uns nicht auf dem Plan" or "ich bin ja schon seit elf Jahren in Rente"."""
    if len(view) > RUN_ON_WORDS:
        return False  # a speech-recognition run-on tells several things; its event decides only its own
    by_label = {rule.label: rule for rule in rules.life_events}
    verdicts = [assess_trigger(view, start, by_label[label], rules) for label, start, _ in view.events]
    return bool(verdicts) and not any(v.counts for v in verdicts)


def worth_embedding(view: SentenceView) -> bool:
    """Long enough, and neither declining something nor a vague "maybe someday" wish."""
    return len(view) >= MIN_WORDS and not view.has_cue("decline") and not view.has_cue("hypothetical")


def run_on_pieces(view: SentenceView) -> list[str]:
    """A whole turn without punctuation (speech-recognition text) is one "sentence", and its
    embedding blurs every need told in it; so its clauses, gathered into pieces of at least
    ``PIECE_WORDS`` words, are scored too. Sentences with punctuation give none."""
    if len(view) <= RUN_ON_WORDS or PUNCTUATION.search(view.evidence):
        return []
    pieces, current, clause = [], [], view.clause_of[0]
    for word, clause_of in zip(view.words, view.clause_of):
        if clause_of != clause and len(current) >= PIECE_WORDS:
            pieces.append(current)
            current = []
        clause = clause_of
        current.append(word)
    if current:
        if pieces and len(current) < PIECE_WORDS:
            pieces[-1].extend(current)
        else:
            pieces.append(current)
    return [" ".join(p) for p in pieces] if len(pieces) > 1 else []


def present_text(view: SentenceView) -> str:
    """The sentence without its clauses about the long past; "" for a story of the past."""
    if not view.has_cue("long_ago"):
        return view.evidence
    if len(view) <= STORY_WORDS and not (view.has_cue("recent") or view.has_cue("present")):
        return ""  # a story of the past: "die hat er damals abgeschlossen, wie wir das Haus gekauft haben"
    past = {view.clause_of[start] for start, _ in view.cue_spans("long_ago")}
    past = {c for c in past if not view.has_cue("recent", range(*_clause_bounds(view, c)))}
    if not past:
        return view.evidence
    words = [w for w, c in zip(view.words, view.clause_of) if c not in past]
    return " ".join(words) if len(words) >= MIN_WORDS else ""


def _clause_bounds(view: SentenceView, clause: int) -> tuple[int, int]:
    members = view.clause_words(clause)
    return members[0], members[-1] + 1


def candidate_vectors(candidates: list[Candidate], sentence_vectors: np.ndarray) -> np.ndarray:
    """One row per candidate: its sentence's vector, or the normalised sum of two."""
    if not candidates:
        return np.zeros((0, sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 1), dtype=np.float32)
    first = np.array([c.rows[0] for c in candidates])
    second = np.array([c.rows[-1] for c in candidates])
    summed = sentence_vectors[first] + np.where(first[:, None] == second[:, None], 0.0, sentence_vectors[second])
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (summed / norms).astype(np.float32)


def need_signals(
    candidates: list[Candidate], vectors: np.ndarray, index: NeedIndex, threshold: float, margin: float | None = None
) -> list[Signal]:
    """A need counts when a candidate is near one of the product's sentences (cosine at
    least ``threshold``) and nearer to it than to the average product by ``margin``."""
    if not len(vectors):
        return []
    margin = NEED_MARGIN if margin is None else margin
    products, raw = index.product_scores(vectors)
    centred = raw - raw.mean(axis=1, keepdims=True) if raw.shape[1] > 1 else raw
    signals = []
    for j, product_id in enumerate(products):
        ok = (raw[:, j] >= threshold) & (centred[:, j] >= margin)
        if not ok.any():
            continue
        row = int(np.argmax(np.where(ok, centred[:, j], -np.inf)))
        candidate = candidates[row]
        signals.append(make_signal("need", product_id, candidate.turn, candidate.text, _confidence(float(raw[row, j]), threshold)))
    return signals


def _confidence(score: float, threshold: float) -> float:
    # Map [threshold, 1] onto [0.6, 1]: just above the threshold is a fair, not a sure, match.
    return 0.6 + 0.4 * (score - threshold) / max(1e-6, 1.0 - threshold)
