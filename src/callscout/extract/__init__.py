"""Extraction: signals (life events, needs, owned/held/declined products, sensitive topics)
from a transcript, with spaCy rule components and sentence embeddings."""

from callscout.extract.encoders import HashingEncoder, load_encoder
from callscout.extract.extractor import Extractor
from callscout.extract.language import guess_language

__all__ = ["Extractor", "HashingEncoder", "guess_language", "load_encoder"]
