"""Does naming the catalogue's products to Whisper help it write them? Measured, not assumed.

    python bench/vocab_bench.py

Builds spoken test clips with espeak-ng (sentences a customer might say, each naming one or
two catalogue products, German and English) into bench/out/vocab/, then transcribes them
with the base model three ways: no hint, the catalogue vocabulary as ``hotwords``, and as
``initial_prompt``. Prints how many product names came out right, and the WER on the real
clips of ../shared/realaudio (which name no product) to show what the hint costs elsewhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import OUT, ROOT, exact_clips  # noqa: E402

CATALOGUES = ROOT / "fixtures" / "catalogues"

# (language, catalogue, sentence, product names it must contain)
SENTENCES = [
    ("de", "finanz", "Wir überlegen, eine Berufsunfähigkeitsversicherung abzuschließen.", ["Berufsunfähigkeitsversicherung"]),
    ("de", "finanz", "Haben Sie auch eine Risikolebensversicherung für junge Familien?", ["Risikolebensversicherung"]),
    ("de", "finanz", "Die Hausratversicherung läuft bei einem anderen Anbieter.", ["Hausratversicherung"]),
    ("de", "finanz", "Für das neue Haus brauchen wir eine Wohngebäudeversicherung.", ["Wohngebäudeversicherung"]),
    ("de", "finanz", "Wir haben jetzt einen Hund, brauche ich eine Tierhalterhaftpflicht?", ["Tierhalterhaftpflicht"]),
    ("de", "finanz", "Für die Reise nach Kanada fehlt uns noch die Auslandsreisekrankenversicherung.", ["Auslandsreisekrankenversicherung"]),
    ("de", "finanz", "Für unsere Tochter möchten wir ein Juniordepot eröffnen.", ["Juniordepot"]),
    ("de", "finanz", "Wir sprechen gerade mit der Bank über die Baufinanzierung.", ["Baufinanzierung"]),
    ("de", "finanz", "Ich habe bisher nur ein Fondsdepot bei Ihnen.", ["Fondsdepot"]),
    ("de", "finanz", "Meine Privathaftpflicht ist schon sehr alt.", ["Privathaftpflicht"]),
    ("de", "technik", "Das Support-Paket für die Software klingt interessant.", ["Support-Paket"]),
    ("de", "technik", "Gibt es das Fitness-Abo auch mit einem Ernährungsplan?", ["Fitness-Abo", "Ernährungsplan"]),
    ("de", "technik", "Ich brauche noch ein Schnellladegerät und eine Speicherkarte.", ["Schnellladegerät", "Speicherkarte"]),
    ("de", "technik", "Sind die Konzerttickets im Vorverkauf schon erhältlich?", ["Konzerttickets"]),
    ("en", "finanz", "We are thinking about term life insurance now that the baby is here.", ["term life insurance"]),
    ("en", "finanz", "Do you offer travel health insurance for a year abroad?", ["travel health insurance"]),
    ("en", "technik", "I only need a screen protector and a memory card.", ["screen protector", "memory card"]),
    ("en", "technik", "Is the support plan included with the pro plan?", ["support plan", "pro plan"]),
]


def squeezed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def make_clips() -> list[tuple[Path, str, str, list[str]]]:
    folder = OUT / "vocab"
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, (language, catalogue, sentence, names) in enumerate(SENTENCES):
        target = folder / f"{index:02d}_{language}.wav"
        if not target.exists():
            raw = folder / f".raw-{index}.wav"
            subprocess.run(["espeak-ng", "-v", language, "-s", "145", "-w", str(raw), sentence], check=True)
            subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(target), "pad", "0.3", "0.3"], check=True)
            raw.unlink()
        clips.append((target, language, catalogue, names))
    return clips


def main() -> None:
    import jiwer
    from faster_whisper import WhisperModel

    from callscout.catalogue import load_catalogue
    from callscout.models import resolve_whisper_model
    from callscout.transcribe import vocabulary_hint
    from run_bench import normalise

    model = WhisperModel(resolve_whisper_model("base"), device="cpu", compute_type="int8")
    hints = {name: vocabulary_hint(load_catalogue(CATALOGUES / f"{name}.yaml")) for name in ("finanz", "technik")}
    clips = make_clips()
    real = exact_clips()
    print(f"{'variant':<16} {'names right':>12} {'real-clip WER':>14} {'seconds':>8}")
    for variant in ("no hint", "hotwords", "initial_prompt"):
        started = time.perf_counter()
        found = total = 0
        for path, language, catalogue, names in clips:
            options = {} if variant == "no hint" else {variant: hints[catalogue]}
            segments, _ = model.transcribe(str(path), language=language, beam_size=5, **options)
            text = squeezed(" ".join(s.text for s in segments))
            total += len(names)
            found += sum(squeezed(name) in text for name in names)
        references, hypotheses = [], []
        for clip in real:
            options = {} if variant == "no hint" else {variant: hints["finanz"]}
            segments, _ = model.transcribe(str(clip.path), language=clip.language, beam_size=5, vad_filter=True, **options)
            references.append(normalise(clip.reference))
            hypotheses.append(normalise(" ".join(s.text for s in segments)))
        seconds = time.perf_counter() - started
        print(f"{variant:<16} {found:>5}/{total:<6} {jiwer.wer(references, hypotheses):>14.3f} {seconds:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
