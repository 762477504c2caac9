"""Time callscout against bare faster-whisper on the same files, in the same run.

    python bench/run_bench.py [--quick] [--repeat N] [--write bench/results.md]

Each variant runs in a fresh process (model loading included), so wall time and peak RSS
are what a user sees. ``callscout, no hotwords`` is ``catalogue_hotwords = false``;
``callscout, 30 s windows`` is ``batch_fitted_windows = false``; ``callscout, glibc malloc`` is
``keep_freed_memory = false``; ``callscout, quantized at load`` is ``int8_model_copy = false``
(the model's float16 weights quantized in every run's load, as bare faster-whisper does).
``bare default, built on a thread`` is bare default with only the model's constructor moved
off the main thread, as callscout builds it; the baseline stays bare default as users run it. The
models are installed first (``callscout models install``: the int8 copy, the unpacked sentence
encoder), so no timed run makes them. Prints one table row per workload and variant: wall time, real-time
factor, ratio to bare default and to bare batched, WER against the references, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import ROOT, Workload, workloads  # noqa: E402

CATALOGUE = ROOT / "fixtures" / "catalogues" / "finanz.yaml"


@dataclass
class Run:
    workload: str
    variant: str
    seconds: float
    peak_rss_mb: float
    wer: float
    audio_s: float


def timed(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout + stderr of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[:3]} failed with {status}: {output[-500:]}")
    return seconds, usage.ru_maxrss / 1024, output


def bare(workload: Workload, mode: str, *options: str) -> tuple[float, float, dict[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        texts = Path(folder) / "texts.json"
        command = [sys.executable, str(ROOT / "bench" / "bare.py"), "--mode", mode, *options, "--output", str(texts), *workload.files]
        seconds, rss, _ = timed(command)
        return seconds, rss, json.loads(texts.read_text(encoding="utf-8"))


STAGES = re.compile(r"time: reading/transcription ([\d.]+) s, extraction ([\d.]+) s")
stage_seconds: dict[str, tuple[float, float]] = {}  # workload -> (transcription, extraction)


def callscout(workload: Workload, **settings: str) -> tuple[float, float, dict[str, str]]:
    """``settings``: config keys for this run, as environment variables (``CALLSCOUT_KEY``)."""
    env = dict(os.environ, COLUMNS="200")
    env.update({f"CALLSCOUT_{key.upper()}": value for key, value in settings.items()})
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        command = [sys.executable, "-m", "callscout", "process", *workload.files, "--catalogue", str(CATALOGUE), "--db", str(db)]
        seconds, rss, output = timed(command, env)
        if not settings and (match := STAGES.search(output)):
            stage_seconds[workload.name] = (float(match[1]), float(match[2]))
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "SELECT c.source_path, group_concat(s.text, ' ') FROM calls c JOIN "
                "(SELECT * FROM segments ORDER BY call_id, idx) s ON s.call_id = c.id GROUP BY c.id"
            ).fetchall()
    return seconds, rss, dict(rows)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lstrip("\ufeff").lower()).split())


def wer(workload: Workload, texts: dict[str, str]) -> float:
    import jiwer

    references = [normalise(c.reference) for c in workload.clips]
    hypotheses = [normalise(texts.get(str(c.path), "")) for c in workload.clips]
    return jiwer.wer(references, hypotheses)


VARIANTS: tuple[tuple[str, Callable[[Workload], tuple[float, float, dict[str, str]]]], ...] = (
    ("bare default", lambda w: bare(w, "default")),
    ("bare batched", lambda w: bare(w, "batched")),
    ("bare default, built on a thread", lambda w: bare(w, "default", "--build-on-thread")),
    ("callscout process", callscout),
    # what the catalogue hotwords cost (bench/vocab_results.md has what they buy)
    ("callscout, no hotwords", lambda w: callscout(w, catalogue_hotwords="false")),
    # every window encoded as 30 s, as Whisper was trained (windowing.encoder_frames)
    ("callscout, 30 s windows", lambda w: callscout(w, batch_fitted_windows="false")),
    ("callscout, glibc malloc", lambda w: callscout(w, keep_freed_memory="false")),
    ("callscout, quantized at load", lambda w: callscout(w, int8_model_copy="false")),
)


def run_all(loads: list[Workload], repeat: int = 1) -> list[Run]:
    """Every variant once per round, ``repeat`` rounds per workload: the best wall time counts
    (the machine's own noise is 10-20 % from run to run, and it drifts, so the rounds are
    interleaved rather than one variant's runs back to back), the first run's WER, the highest RSS."""
    from faster_whisper.audio import decode_audio

    runs = []
    for load in loads:
        duration = sum(len(decode_audio(f)) / 16000 for f in load.files)
        best: dict[str, Run] = {}
        for _ in range(repeat):
            for variant, runner in VARIANTS:
                seconds, rss, texts = runner(load)
                if variant not in best:
                    best[variant] = Run(load.name, variant, seconds, rss, wer(load, texts), duration)
                run = best[variant]
                run.seconds, run.peak_rss_mb = min(run.seconds, seconds), max(run.peak_rss_mb, rss)
                print(f"{load.name:<34} {variant:<32} {seconds:7.1f} s  WER {run.wer:.3f}  RSS {rss:6.0f} MB", flush=True)
        runs += [best[variant] for variant, _ in VARIANTS]
    return runs


# (num_workers, cpu_threads); 0 threads: CTranslate2's default (all cores, at most 4)
THREAD_SETTINGS = ((1, 0), (1, 1), (1, 2), (2, 1), (2, 2))


def thread_sweep(workload: Workload) -> list[tuple[tuple[int, int], float]]:
    """callscout on one workload with each setting of CTranslate2 workers and threads."""
    return [
        ((workers, threads), callscout(workload, num_workers=str(workers), cpu_threads=str(threads))[0])
        for workers, threads in THREAD_SETTINGS
    ]


def model_floor(workload: Workload) -> dict[str, float]:
    """Seconds of the Whisper model's own work in callscout's transcription (``bench/floor.py``),
    the best of two runs."""
    command = [sys.executable, str(ROOT / "bench" / "floor.py"), *workload.files]
    found = [json.loads(timed(command)[2].strip().splitlines()[-1]) for _ in range(2)]
    for spent in found:
        spent["model"] = spent["encode"] + spent["detect"] + spent["decode"]
    return min(found, key=lambda spent: spent["model"])


def floor_line(workload: Workload, runs: list[Run]) -> str:
    spent = model_floor(workload)
    model = spent["model"]
    same = {r.variant: r for r in runs if r.workload == workload.name}
    return (
        f"- {workload.name}: encoder passes {spent['encode']:.1f} s + language detection {spent['detect']:.1f} s "
        f"+ decoding {spent['decode']:.1f} s = {model:.1f} s, {model / same['bare default'].seconds:.2f} × bare default; "
        f"callscout process {same['callscout process'].seconds:.1f} s, {same['callscout process'].seconds / same['bare default'].seconds:.2f} ×"
    )


def help_seconds() -> float:
    best = min(timed([sys.executable, "-m", "callscout", "--help"])[0] for _ in range(3))
    return best


def table(runs: list[Run]) -> str:
    lines = [
        "| workload | variant | audio s | wall s | RTF | × bare default | × bare batched | WER | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        same = {r.variant: r for r in runs if r.workload == run.workload}
        lines.append(
            f"| {run.workload} | {run.variant} | {run.audio_s:.0f} | {run.seconds:.1f} | {run.seconds / run.audio_s:.3f} "
            f"| {run.seconds / same['bare default'].seconds:.2f} | {run.seconds / same['bare batched'].seconds:.2f} "
            f"| {run.wer:.3f} | {run.peak_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((row.split(":", 1)[1].strip() for row in info.splitlines() if row.startswith("model name")), platform.processor())
    flags = set(next((row.split(":", 1)[1].split() for row in info.splitlines() if row.startswith("flags")), []))
    # CTranslate2 picks its kernels by instruction set, and this workplace's 2-core machines
    # differ: bare faster-whisper took 11.8 s for the 80 s file on one, 22.8 s on an AVX2-only one.
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}, {isa}), {memory_gb:.0f} GiB RAM, Python {platform.python_version()}, CPU only, int8"


def revision() -> str:
    found = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


READING = "## Reading the table"


def write_report(path: Path, report: str) -> None:
    """The generated part replaces the file's head; the hand-written reading below it stays."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = old[old.find(READING):] if READING in old else ""
    path.write_text(f"# Benchmark results\n\n{report}\n{kept}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only the small workloads")
    parser.add_argument("--write", type=Path, help="write the markdown table to this file")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; the best wall time counts")
    args = parser.parse_args()
    loads = workloads(args.quick)
    subprocess.run([sys.executable, "-m", "callscout", "models", "install"], check=True)
    runs = run_all(loads, args.repeat)
    stages = "\n".join(
        f"- {name}: transcription {read:.1f} s, extraction {extract:.1f} s ({extract / (read + extract):.1%})"
        for name, (read, extract) in stage_seconds.items()
    )
    sweeps = "\n".join(
        f"- {load.name}: "
        + ", ".join(f"{workers} × {threads or 'default'}: {seconds:.1f} s" for (workers, threads), seconds in thread_sweep(load))
        for load in loads[1:3]
    )
    floors = "\n".join(floor_line(load, runs) for load in loads[1:3])
    report = (
        f"Machine: {machine()}\n\nRun: {date.today().isoformat()}, commit {revision()}.\n\nWall time: best of {args.repeat} run(s) per variant.\n\n{table(runs)}\n\n`callscout --help`: {help_seconds():.2f} s\n\n"
        f"Stages inside `callscout process` (its own summary line):\n{stages}\n\n"
        f"`num_workers` × `cpu_threads` (threads per worker), callscout process wall time:\n{sweeps}\n\n"
        f"The Whisper model's own work inside callscout's transcription (`bench/floor.py`: a second pass in one process, "
        f"best of 2), the floor under `callscout process`:\n{floors}\n"
    )
    print(report)
    if args.write:
        write_report(args.write, report)


if __name__ == "__main__":
    main()
