"""What the Whisper model's own work costs in ``callscout process``: the floor under its wall time.

    python bench/floor.py FILE...

Transcribes the files with callscout's Transcriber (its default settings and the finanz
hotwords, as ``process`` runs it) twice in one process, the model loaded once, and times the
second pass: the encoder passes, language detection and decoding (greedy, and beam search
where it is unsure), as CTranslate2 runs them. Prints one JSON object of seconds. No pipeline
around the model (start-up, audio, VAD, extraction, store) is in these figures, so
``callscout process`` can be no faster than their sum.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_bench import CATALOGUE  # noqa: E402


def timed_into(spent: Counter, stage: str, method):
    @functools.wraps(method)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[stage] += time.perf_counter() - started

    return timed


def main() -> None:
    from callscout.asr.allocator import keep_freed_memory

    keep_freed_memory()  # as ``process`` does first, before any thread starts
    from faster_whisper import WhisperModel

    from callscout.asr.batch_decode import BatchDecoder
    from callscout.asr.transcribe import Transcriber, vocabulary_hint
    from callscout.config import Config
    from callscout.match.catalogue import load_catalogue

    files = [Path(name) for name in sys.argv[1:]]
    transcriber = Transcriber(Config(), vocabulary=vocabulary_hint(load_catalogue(CATALOGUE)))
    transcriber.transcribe_files(files)  # the model loaded, every first-call cost paid

    spent: Counter = Counter()
    WhisperModel.encode = timed_into(spent, "encode", WhisperModel.encode)
    BatchDecoder._detect_languages = timed_into(spent, "detect", BatchDecoder._detect_languages)
    BatchDecoder._generate = timed_into(spent, "decode", BatchDecoder._generate)
    started = time.perf_counter()
    transcriber.transcribe_files(files)
    spent["transcribe"] = time.perf_counter() - started
    print(json.dumps({stage: round(seconds, 3) for stage, seconds in spent.items()}))


if __name__ == "__main__":
    main()
