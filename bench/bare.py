"""Bare faster-whisper, as a user would run it: the baseline callscout is measured against.

    python bench/bare.py --mode default|batched [--build-on-thread] --output texts.json FILE...

``--build-on-thread``: the model is constructed on a thread of its own, as callscout does
(``Transcriber._load_model``); not part of the baseline, only to show what that alone changes.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from callscout.asr.models import resolve_whisper_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("default", "batched"), required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--build-on-thread", action="store_true")
    parser.add_argument("--output", type=Path, required=True, help="JSON file: path -> text")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    def build() -> WhisperModel:
        return WhisperModel(resolve_whisper_model("base"), device="cpu", compute_type="int8", cpu_threads=args.threads)

    if args.build_on_thread:
        with ThreadPoolExecutor(1) as pool:
            model = pool.submit(build).result()
    else:
        model = build()
    engine = BatchedInferencePipeline(model=model) if args.mode == "batched" else model
    options = {"batch_size": 8} if args.mode == "batched" else {"vad_filter": True}
    texts = {}
    for path in args.files:
        segments, _info = engine.transcribe(path, beam_size=5, **options)
        texts[path] = " ".join(s.text.strip() for s in segments)
    args.output.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
