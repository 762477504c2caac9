"""Bare faster-whisper, as a user would run it: the baseline callscout is measured against.

    python bench/bare.py --mode default|batched FILE... > texts.json
"""

from __future__ import annotations

import argparse
import json
import sys

from callscout.models import resolve_whisper_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("default", "batched"), required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(resolve_whisper_model("base"), device="cpu", compute_type="int8", cpu_threads=args.threads)
    engine = BatchedInferencePipeline(model=model) if args.mode == "batched" else model
    options = {"batch_size": 8} if args.mode == "batched" else {"vad_filter": True}
    texts = {}
    for path in args.files:
        segments, _info = engine.transcribe(path, beam_size=5, **options)
        texts[path] = " ".join(s.text.strip() for s in segments)
    json.dump(texts, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
