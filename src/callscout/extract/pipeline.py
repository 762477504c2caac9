"""spaCy pipelines built on ``spacy.blank`` with lookup lemmas and callscout's components.

Components (registered with ``@Language.factory``):
- ``callscout_lemmas``: spacy-lookups-data's lemmas, as spaCy's lookup lemmatizer gives them.
- ``callscout_views``: one :class:`SentenceView` per sentence (``doc._.views``), with
  lower-case lemmas that also work for ASR text without capitals.
- ``callscout_life_events``: life-event and sensitive-topic spans (``doc.spans``) from the
  patterns of the language's rule file.
- ``callscout_cues``: cue spans (negation, hypothetical, third party, long ago, possession,
  decline, ...) from the same rule file, read later by the signal logic.

The extractor's pipelines (``get_pipeline``) leave ``doc.spans`` out: each view finds its
events and cues when the signal logic first asks, and most cues of most sentences, and the
events of the agent's, are never asked for.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache


@contextmanager
def _torch_hidden() -> Iterator[None]:
    """spaCy's thinc imports torch whenever it is installed (1.6 s and ~250 MB on every run),
    though no blank pipeline uses it; hidden for spaCy's import unless already loaded. The
    minilm encoder still imports torch itself later."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # "import torch" raises ImportError; thinc takes it as absent
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


@contextmanager
def _spacy_cli_deferred() -> Iterator[None]:
    """``import spacy`` imports its command line (``from .cli.info import info``), and with it
    requests, httpx, jinja2, weasel and a YAML file read by pure-Python ruamel: 0.45 s of the
    extractor's start-up for nothing a pipeline uses. For spaCy's own import, ``spacy.cli``
    and ``spacy.cli.info`` are stand-ins; afterwards they are gone again, so ``import
    spacy.cli`` loads the real one, and ``spacy.info`` calls it."""
    if "spacy" in sys.modules or not cli_deferrable(_spacy_init_source()):
        yield
        return
    cli = types.ModuleType("spacy.cli")
    cli.__path__ = []  # a package without submodules: nothing else of it is imported for real
    info = types.ModuleType("spacy.cli.info")

    def deferred_info(*args, **kwargs):
        from spacy.cli.info import info as real_info

        return real_info(*args, **kwargs)

    info.info = deferred_info
    stand_ins = {"spacy.cli": cli, "spacy.cli.info": info}
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        spacy = sys.modules.get("spacy")
        if spacy is not None and getattr(spacy, "cli", None) is cli:
            del spacy.cli


def cli_deferrable(init_source: str) -> bool:
    """Whether spaCy's ``__init__`` takes nothing from its CLI but ``info`` (spaCy 3.7-3.8):
    the only case the stand-ins are made for. Any other spaCy is imported as it is."""
    imports = re.findall(r"^\s*(from\s+\.cli\b.*|import\s+spacy\.cli\b.*)$", init_source, re.MULTILINE)
    return [line.split("#")[0].strip() for line in imports] == ["from .cli.info import info"]


def _spacy_init_source() -> str:
    import importlib.util

    spec = importlib.util.find_spec("spacy")
    try:
        return open(spec.origin, encoding="utf-8").read() if spec and spec.origin else ""
    except OSError:
        return ""


with _torch_hidden(), _spacy_cli_deferred():
    from spacy.language import Language
    from spacy.tokens import Doc, Span

from callscout.extract.rules import EventRule, RuleSet, load_rules, one_pattern
from callscout.extract.views import SentenceView, Topics

log = logging.getLogger("callscout")

if not Doc.has_extension("views"):
    Doc.set_extension("views", default=None)


@lru_cache(maxsize=None)
def lemma_table(language: str) -> dict[str, str]:
    """spacy-lookups-data's lemma table for ``language`` (empty where it has none)."""
    from spacy.util import load_language_data, registry

    if language not in registry.lookups:
        return {}
    tables = registry.lookups.get(language)
    return load_language_data(tables["lemma_lookup"]) if "lemma_lookup" in tables else {}


class LookupLemmas:
    """spaCy's lookup lemmatizer (``mode="lookup"``: the token's text looked up in
    spacy-lookups-data's table), with the table as a plain dict. spaCy's ``Table`` hashes
    each entry and adds it to a Bloom filter when it loads: 1.0 s for the 355,000 German
    entries, a third of the extractor's start-up; the dict loads in 0.25 s."""

    def __init__(self, language: str):
        self.table = lemma_table(language)

    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            if token.lemma == 0:
                token.lemma_ = self.table.get(token.text, token.text)
        return doc


@Language.factory("callscout_lemmas", default_config={"language": "de"})
def make_lookup_lemmas(nlp: Language, name: str, language: str):
    return LookupLemmas(language)


# Hesitations say nothing and split patterns apart ("we're off, uh, to New Zealand"), so
# views leave them out: these forms in any language ("äh", "ähm", "öhm", "hmm", "mhm"), and
# each rule file's own ``hesitations`` (English "um" and "er" are German words).
HESITATION = re.compile(r"^(ä+h*m*|ö+h*m*|e+hm+|h+m+|m+h+m+)$")


class SentenceViews:
    def __init__(self, nlp: Language, clause_breaks: list[str], hesitations: list[str]):
        self.nlp = nlp
        self.clause_breaks = frozenset(clause_breaks)
        self.hesitations = frozenset(hesitations)
        self._table = lemma_table(nlp.lang)

    def _lemma(self, token) -> str:
        lemma = token.lemma_ or token.text
        if lemma == token.text and token.text.islower():
            lemma = self._table.get(token.text.capitalize(), lemma)
        return lemma.lower()

    def __call__(self, doc: Doc) -> Doc:
        views = []
        for sent in doc.sents:
            words, lemmas, clauses, indices, clause = [], [], [], [], 0
            for token in sent:
                if token.is_punct or token.is_space:
                    if words and token.text not in "-'’":
                        clause += 1 if clauses and clauses[-1] == clause else 0
                    continue
                lower = token.lower_
                if lower in self.hesitations or HESITATION.match(lower):
                    continue
                if lower in self.clause_breaks and words:
                    clause += 1 if clauses and clauses[-1] == clause else 0
                words.append(lower)
                lemmas.append(self._lemma(token))
                clauses.append(clause)
                indices.append(token.i)
            if words:
                views.append(SentenceView(sent.text.strip(), words, lemmas, clauses, indices))
        doc._.views = views
        return doc


@Language.factory("callscout_views", default_config={"clause_breaks": [], "hesitations": []})
def make_sentence_views(nlp: Language, name: str, clause_breaks: list[str], hesitations: list[str]):
    return SentenceViews(nlp, clause_breaks, hesitations)


COMBO_WINDOW = 6  # words between the two parts of a combo rule ("fliegen ... nach Island")


def find_rule(view: SentenceView, rule: EventRule) -> list[tuple[int, int]]:
    """Word spans of a sentence where a life-event or sensitive rule fires."""
    spans = view.find_any(rule.patterns)
    for left, right in rule.combos:
        lefts = view.find(left)
        rights = view.find(right) if lefts else []  # the right part (all destinations) is the costly scan
        pairs = [(a, b) for a in lefts for b in rights if abs(a[0] - b[0]) <= COMBO_WINDOW]
        if pairs:
            spans.append(min(min(pairs[0]), max(pairs[0])))
    if not spans:
        for stem in rule.stems:
            spans.extend(view.find_stem(stem))
    if spans and rule.exclude:
        excluded = view.find_any(rule.exclude)
        spans = [s for s in spans if not any(e[0] <= s[0] < e[1] for e in excluded)]
    return sorted(set(spans))


class RuleMatcher:
    """Gives each view its finder of life events and sensitive topics (``view.events``,
    ``view.sensitive``), which runs when they are first asked for. With ``spans`` all are
    found at once and marked in ``doc.spans['life_events' | 'sensitive']``."""

    def __init__(self, language: str, spans: bool = True):
        self.rules: RuleSet = load_rules(language)
        self.spans = spans
        self.screens = {
            "life_events": _screen(self.rules.life_events),
            "sensitive": _screen(self.rules.sensitive),
        }

    def __call__(self, doc: Doc) -> Doc:
        views = doc._.views or ()
        for view in views:
            view.topic_finder = self.find
        if self.spans:
            doc.spans["life_events"] = [_doc_span(doc, v, start, end, label) for v in views for label, start, end in v.events]
            doc.spans["sensitive"] = [_doc_span(doc, v, start, end, label) for v in views for label, start, end in v.sensitive]
        return doc

    def find(self, view: SentenceView) -> tuple[Topics, Topics]:
        """The life events and the sensitive topics of a sentence."""
        return self._find(view, "life_events", self.rules.life_events), self._find(view, "sensitive", self.rules.sensitive)

    def _find(self, view: SentenceView, key: str, rules: tuple[EventRule, ...]) -> Topics:
        pattern, stems = self.screens[key]
        # One scan tells whether any rule can fire; most sentences have no event.
        if not _may_fire(view, pattern, stems):
            return []
        return [(rule.label, start, end) for rule in rules for start, end in find_rule(view, rule)]


def _may_fire(view: SentenceView, pattern: re.Pattern, stems: tuple[str, ...]) -> bool:
    if pattern.search(view.text):
        return True
    if view.lemma_text != view.text and pattern.search(view.lemma_text):
        return True
    return any(s in view.squashed for s in stems)


def _screen(rules: tuple[EventRule, ...]) -> tuple[re.Pattern, tuple[str, ...]]:
    """One alternation of every pattern and combo head of the rules, and all their stems."""
    patterns = tuple(p for rule in rules for p in (*rule.patterns, *(left for left, _ in rule.combos)))
    return one_pattern(patterns), tuple(s for rule in rules for s in rule.stems)


@Language.factory("callscout_life_events", default_config={"language": "de", "spans": True})
def make_rule_matcher(nlp: Language, name: str, language: str, spans: bool):
    return RuleMatcher(language, spans)


class CueAnnotator:
    """Gives each view its cue scanners, which find a cue when it is first asked for. With
    ``spans`` all are found at once and marked in ``doc.spans['cues']`` with the cue name."""

    def __init__(self, language: str, spans: bool = True):
        self.rules: RuleSet = load_rules(language)
        self.spans = spans

    def __call__(self, doc: Doc) -> Doc:
        views = doc._.views or ()
        for view in views:
            view.cue_scanners = self.rules.cue_scanners
        if self.spans:
            doc.spans["cues"] = [
                _doc_span(doc, view, start, end, cue)
                for view in views
                for cue in self.rules.cue_scanners
                for start, end in view.cue_spans(cue)
            ]
        return doc


@Language.factory("callscout_cues", default_config={"language": "de", "spans": True})
def make_cue_annotator(nlp: Language, name: str, language: str, spans: bool):
    return CueAnnotator(language, spans)


def _doc_span(doc: Doc, view: SentenceView, start: int, end: int, label: str) -> Span:
    # Views drop punctuation, so word indices are mapped back to the doc's tokens.
    last = view.doc_indices[min(end, len(view.doc_indices)) - 1]
    return Span(doc, view.doc_indices[start], last + 1, label=label)


_LOCK = threading.Lock()
_PIPELINES: dict[str, Language] = {}


def build_pipeline(language: str, spans: bool = True) -> Language:
    """A blank pipeline for ``language`` with lookup lemmas and the callscout components;
    without ``spans``, events and cues are found on demand and not marked in ``doc.spans``."""
    import spacy

    rules = load_rules(language)
    nlp = spacy.blank(language)
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("callscout_lemmas", config={"language": language})
    nlp.add_pipe("callscout_views", config={"clause_breaks": sorted(rules.clause_breaks), "hesitations": sorted(rules.hesitations)})
    nlp.add_pipe("callscout_life_events", config={"language": language, "spans": spans})
    nlp.add_pipe("callscout_cues", config={"language": language, "spans": spans})
    nlp.initialize()
    return nlp


def get_pipeline(language: str) -> Language:
    """The process-wide pipeline for a language, built on first use."""
    with _LOCK:
        if language not in _PIPELINES:
            log.debug("building spaCy pipeline for %s", language)
            _PIPELINES[language] = build_pipeline(language, spans=False)
        return _PIPELINES[language]
