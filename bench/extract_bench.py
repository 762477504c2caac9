"""Throughput of the extraction stage: Extractor.extract() + match_opportunities() per transcript.

    python bench/extract_bench.py [--encoder use] [--calls 40] [--repeats 3] [--profile]

Builds realistic ~5-minute transcripts (about 750 words, about 60 segments) by chaining the
turns of the dev calls of one language, warms up (models, spaCy pipelines, catalogue
embeddings of every language and catalogue), then times ``--calls`` transcripts per repeat,
prints each repeat's wall and CPU seconds and the best repeat as transcripts/s and
customer+agent sentences/s. The machine is shared, so take the best of a few repeats.
``--profile`` prints the top of a cProfile of one repeat instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "src"))

from callscout.extract import Extractor, load_encoder  # noqa: E402
from callscout.match.catalogue import load_catalogues  # noqa: E402
from callscout.match.opportunities import match_opportunities  # noqa: E402
from callscout.records import Segment, Transcript  # noqa: E402

TARGET_WORDS = 750
TARGET_SEGMENTS = 60


def build_transcripts(gold: Path, count: int) -> list[tuple[Transcript, str]]:
    """``count`` transcripts of ~750 words / ~60 segments, alternating German and English."""
    calls = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_language: dict[str, list[dict]] = {}
    for call in calls:
        by_language.setdefault(call["language"], []).append(call)
    transcripts = []
    cursors = {language: 0 for language in by_language}
    languages = sorted(by_language)
    for number in range(count):
        language = languages[number % len(languages)]
        pool = by_language[language]
        segments, words, catalogue = [], 0, None
        while words < TARGET_WORDS and len(segments) < TARGET_SEGMENTS * 1.5:
            call = pool[cursors[language] % len(pool)]
            cursors[language] += 1
            catalogue = catalogue or call["catalogue"]
            for role, text in call["turns"]:
                segments.append(Segment(speaker=role, text=text, start=float(len(segments)), end=len(segments) + 0.9))
                words += len(text.split())
        transcripts.append((Transcript(segments=segments, language=language), catalogue))
    return transcripts


def run_once(extractor: Extractor, transcripts, catalogues) -> tuple[float, float]:
    """Wall and CPU seconds of extracting and matching every transcript."""
    started, cpu = time.perf_counter(), time.process_time()
    for transcript, catalogue in transcripts:
        signals = extractor.extract(transcript, catalogues[catalogue])
        match_opportunities(signals, catalogues[catalogue])
    return time.perf_counter() - started, time.process_time() - cpu


def one_per_kind(transcripts: list[tuple[Transcript, str]]) -> list[tuple[Transcript, str]]:
    """The first transcript of each language and catalogue: warms up every pipeline and index."""
    firsts: dict[tuple[str | None, str], tuple[Transcript, str]] = {}
    for transcript, catalogue in transcripts:
        firsts.setdefault((transcript.language, catalogue), (transcript, catalogue))
    return list(firsts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=None, help="use (default), minilm, hashing")
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    catalogues = load_catalogues(SHARED / "catalogues")
    transcripts = build_transcripts(SHARED / "eval" / "dev_calls.jsonl", args.calls)
    extractor = Extractor(encoder=load_encoder(args.encoder))
    run_once(extractor, one_per_kind(transcripts), catalogues)  # warm up: models, pipelines, catalogue embeddings

    words = sum(len(s.text.split()) for t, _ in transcripts for s in t.segments)
    segments = sum(len(t.segments) for t, _ in transcripts)
    from callscout.extract.pipeline import get_pipeline

    sentences = sum(
        len(doc._.views or [])
        for t, _ in transcripts
        for doc in get_pipeline(t.language).pipe(s.text for s in t.segments)
    )
    print(f"encoder {extractor.encoder.name}: {len(transcripts)} transcripts, "
          f"{words / len(transcripts):.0f} words and {segments / len(transcripts):.0f} segments each, "
          f"{sentences / len(transcripts):.0f} sentences each")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_once(extractor, transcripts, catalogues)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return
    times = [run_once(extractor, transcripts, catalogues) for _ in range(args.repeats)]
    best = min(wall for wall, _ in times)
    # CPU well below wall time: the shared cores were busy with something else.
    print(f"repeats, wall (cpu) s: {', '.join(f'{wall:.2f} ({cpu:.2f})' for wall, cpu in times)}")
    print(f"best: {len(transcripts) / best:.1f} transcripts/s, {sentences / best:.0f} sentences/s")


if __name__ == "__main__":
    main()
