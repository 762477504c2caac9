"""Train the life-event heads (``callscout.extract.event_heads``) and write their weights.

    pip install -e '.[train]'
    python training/train_event_heads.py            # writes src/callscout/data/models/life_event_heads.npz
    python training/train_event_heads.py --check    # cross-validated accuracy only, writes nothing

Data: ``training/life_events_{de,en}.jsonl`` (sentences stating an event, or on its topic but
negated, hypothetical, someone else's, long ago, called off, asked, sarcastic, idiomatic) and
``training/topic_mentions_{de,en}.jsonl`` (talk about an event's things without the event), each
line ``{"text", "topic", "counts", "why"}``; written for this, in no call set.

- topic head: label = the topic, or ``none`` for idioms, topic mentions and off-topic talk;
- counts head: over the sentences on an event's topic, whether they count, from the embedding
  and the rules' cue flags.
Both are L2-regularised logistic regressions (lbfgs, deterministic) on the USE embedding.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from callscout.extract import Extractor  # noqa: E402
from callscout.extract.encoders import load_encoder  # noqa: E402
from callscout.extract.event_heads import HEADS_FILE, cue_features  # noqa: E402
from callscout.extract.rules import load_rules  # noqa: E402
from callscout.records import Segment, Transcript  # noqa: E402

DATA = ROOT / "training"
OUTPUT = ROOT / "src" / "callscout" / "data" / "models" / HEADS_FILE
NOT_THE_TOPIC = {"idiom", "off_topic", "topic_mention"}
TOPIC_C = 4.0
COUNTS_C = 1.0


def load_rows() -> list[dict]:
    rows = []
    for path in sorted(DATA.glob("*.jsonl")):
        language = next(part for part in path.stem.split("_") if part in ("de", "en"))
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["language"] = language
            rows.append(row)
    return rows


def data_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(DATA.glob("*.jsonl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def sentence_view(extractor: Extractor, text: str, language: str):
    """The sentence as the extractor sees it (the longest, where spaCy splits it)."""
    (turn,) = extractor.turns(Transcript([Segment("customer", text)], language), language)
    return max(turn.views, key=len)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="cross-validate only")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the weights")
    args = parser.parse_args()

    encoder = load_encoder("use", ROOT / "models")
    extractor = Extractor(encoder=encoder)
    rows = load_rows()
    vectors = encoder.encode([row["text"] for row in rows])

    topics = np.array([row["topic"] if row["why"] not in NOT_THE_TOPIC else "none" for row in rows])
    topic_head = LogisticRegression(C=TOPIC_C, max_iter=5000, class_weight="balanced")

    on_topic = [i for i, row in enumerate(rows) if row["topic"] != "none" and row["why"] not in NOT_THE_TOPIC]
    features = np.array([cue_features(sentence_view(extractor, rows[i]["text"], rows[i]["language"]),
                                      load_rules(rows[i]["language"])) for i in on_topic])
    counts_x = np.hstack([vectors[on_topic], features])
    counts_y = np.array([bool(rows[i]["counts"]) for i in on_topic])
    counts_head = LogisticRegression(C=COUNTS_C, max_iter=5000)

    print(f"{len(rows)} sentences, {len(on_topic)} on an event's topic ({counts_y.mean():.2f} of them count)")
    print(f"topic head  5-fold accuracy {cross_val_score(topic_head, vectors, topics, cv=5).mean():.3f}")
    print(f"counts head 5-fold accuracy {cross_val_score(counts_head, counts_x, counts_y, cv=5).mean():.3f}")
    if args.check:
        return
    topic_head.fit(vectors, topics)
    counts_head.fit(counts_x, counts_y)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.output,
        encoder=np.array(encoder.name),
        data_sha256=np.array(data_digest()),
        classes=np.array(topic_head.classes_),
        topic_weights=topic_head.coef_.T.astype(np.float32),
        topic_bias=topic_head.intercept_.astype(np.float32),
        counts_weights=counts_head.coef_[0].astype(np.float32),
        counts_bias=np.array(counts_head.intercept_[0], dtype=np.float32),
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
