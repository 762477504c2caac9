"""Benchmark inputs, built from ../shared/realaudio with sox into bench/out/ (git-ignored)."""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_AUDIO = ROOT.parent / "shared" / "realaudio"
OUT = ROOT / "bench" / "out"


@dataclass
class Clip:
    path: Path
    language: str
    reference: str


@dataclass
class Workload:
    name: str
    clips: list[Clip]

    @property
    def files(self) -> list[str]:
        return [str(c.path) for c in self.clips]


def exact_clips() -> list[Clip]:
    """Every real clip whose reference is exact, German and English (not the per-channel one)."""
    clips = []
    with open(SHARED_AUDIO / "manifest.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["reference_type"].strip('"').startswith("exact (") and row["language"] in ("de", "en"):
                clips.append(Clip(SHARED_AUDIO / row["path"], row["language"], row["reference_text"]))
    return clips


def joined(name: str, clips: list[Clip], repeat: int = 1, pause_s: float = 0.8) -> Clip:
    """One 16 kHz mono file of the clips in order (``repeat`` times), with pauses between them."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / name
    if not target.exists():
        parts = []
        for index, clip in enumerate(clips * repeat):
            part = OUT / f".part-{name}-{index}.wav"
            subprocess.run(["sox", str(clip.path), "-r", "16000", "-c", "1", "-b", "16", str(part), "pad", "0", str(pause_s)], check=True)
            parts.append(str(part))
        subprocess.run(["sox", *parts, str(target)], check=True)
        for part in parts:
            Path(part).unlink()
    reference = " ".join(c.reference for c in clips * repeat)
    return Clip(target, clips[0].language, reference)


def workloads(quick: bool = False) -> list[Workload]:
    clips = exact_clips()
    german = [c for c in clips if c.language == "de"]
    azure_german = [c for c in german if "azure-customspeech" in str(c.path)]
    loads = [
        Workload("real clips de+en", clips),
        Workload("80 s German (3 joined)", [joined("de_80s.wav", azure_german)]),
    ]
    if not quick:
        loads.append(Workload("~6 min German (all joined twice)", [joined("de_6min.wav", german, repeat=2)]))
        loads.append(Workload("batch of 20 files", clips[:20]))
    return loads
