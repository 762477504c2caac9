"""Insight quality on the tuning and held-out halves of the development calls.

    python bench/quality.py [--encoder use] [--write bench/quality.md]

Runs ``callscout eval`` on the three shared gold files (``shared/eval/dev_calls.jsonl``,
``dev2_calls_a.jsonl``, ``dev2_calls_b.jsonl``) with the default encoder (or ``--encoder``) and
prints the tuning / held-out / all table (split: first hex digit of sha256(call id) even =
tuning), the gap held-out minus tuning, and the error-class counts per language. ``--write``
also writes it as markdown with the date and commit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "src"))

from callscout.evaluation.quality import SPLITS, evaluate_files, split_rows  # noqa: E402
from callscout.extract import Extractor, load_encoder  # noqa: E402

GOLD = [SHARED / "eval" / name for name in ("dev_calls.jsonl", "dev2_calls_a.jsonl", "dev2_calls_b.jsonl")]


def revision() -> str:
    found = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def markdown(reports, seconds: float) -> str:
    every = reports["all"]
    header = ["", *SPLITS, "gap (held-out − tuning)"]
    rows = [f"| {key} | " + " | ".join(values) + " |" for key, values in split_rows(reports)]
    by_language = every.error_classes_by_language()
    classes = [f"| {name} | {count} | " + " | ".join(str(by_language[lang][name]) for lang in by_language) + " |"
               for name, count in every.error_classes().items()]
    return "\n".join([
        "# Insight quality: tuning vs held-out",
        "",
        f"Run: {date.today().isoformat()}, commit {revision()}, encoder {every.encoder}, {every.calls} calls "
        f"({', '.join(p.name for p in GOLD)}), {seconds:.0f} s. `python bench/quality.py --write bench/quality.md`.",
        "",
        "Split: a call is in the tuning half when the first hex digit of sha256(call id) is even, else held out. "
        "Opportunities are scored before the policy cut; `errors: …` rows count misses (false positives and "
        "false negatives, opportunities and life events) per error class (`src/callscout/evaluation/errors.py`).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *rows,
        "",
        "## Error classes per language (all calls)",
        "",
        "| class | all | " + " | ".join(by_language) + " |",
        "|" + "---|" * (2 + len(by_language)),
        *classes,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=None, help="use, minilm, hashing or a model path (default: the default)")
    parser.add_argument("--write", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    began = time.perf_counter()
    reports = evaluate_files(GOLD, SHARED / "catalogues", Extractor(encoder=load_encoder(args.encoder)))
    text = markdown(reports, time.perf_counter() - began)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
