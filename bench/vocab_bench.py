"""Does naming the catalogue's products to Whisper help it write them? Measured, not assumed.

    python bench/vocab_bench.py

Builds spoken test clips with espeak-ng (sentences a customer might say, each naming one or
two catalogue products, German and English) into bench/out/vocab/, then transcribes them
with the base model with and without the catalogue vocabulary as ``hotwords`` (in a few
forms; ``python bench/vocab_bench.py "no hint" hotwords`` runs only those). Prints how many
product names came out right, how many catalogue names were written that nobody said, and
the WER on the real clips of ../shared/realaudio (which name no product) with the names
invented there: what the hint costs elsewhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import OUT, ROOT, exact_clips  # noqa: E402

from callscout.asr.transcribe import echoes_vocabulary, spliced, vocabulary_hint, vocabulary_terms  # noqa: E402
from callscout.records import Segment  # noqa: E402

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


def catalogue_words(catalogue) -> set[str]:
    return {squeezed(name) for product in catalogue.products for name in product.names if len(squeezed(name)) > 3}


def invented(text: str, said: str, words: set[str]) -> int:
    """Catalogue names in the transcript that the speaker did not say."""
    text, said = squeezed(text), squeezed(said)
    return sum(1 for word in words if word in text and word not in said)


HINT_STYLES = {
    "no hint": lambda catalogue: None,
    "hotwords": vocabulary_hint,
    "hotwords + echo guard": vocabulary_hint,
    "hotwords, names only": lambda catalogue: ", ".join(dict.fromkeys(p.name for p in catalogue.products)),
    "hotwords, no commas": lambda catalogue: vocabulary_hint(catalogue).replace(",", ""),
}


GUARDED = {"hotwords + echo guard"}
# Through callscout's own Transcriber (batched greedy decoding, echo guard included).
# name: (hint, config settings)
BATCHED = {
    "batched, no hint": (None, {}),
    "batched, hotwords": (vocabulary_hint, {}),
    "batched, hotwords, 30 s windows": (vocabulary_hint, {"batch_fitted_windows": False}),
}
HINT_STYLES.update({name: (lambda catalogue, make=make: make(catalogue) if make else None) for name, (make, _) in BATCHED.items()})


def through_callscout(model, path: Path, language: str, hint: str | None, settings: dict) -> str:
    from callscout.asr.transcribe import Transcriber
    from callscout.config import Config

    transcriber = Transcriber(Config(language=language, **settings), model=model, vocabulary=hint)
    return " ".join(s.text for s in transcriber.transcribe_file(path).segments)


def transcribed(model, path: Path, language: str, hint: str | None, guard: bool, batched: dict | None = None) -> str:
    """The text; with ``guard``, segments that echo the hint are replaced by the plain
    decoding of the same stretch (as callscout's ``Transcriber`` does); ``batched``: through
    callscout's Transcriber with these config settings."""
    if batched is not None:
        return through_callscout(model, path, language, hint, batched)

    def decoded(hotwords: str | None) -> list[Segment]:
        pieces, _ = model.transcribe(str(path), language=language, beam_size=5, vad_filter=True, hotwords=hotwords)
        return [Segment("unknown", p.text, p.start, p.end) for p in pieces]

    segments = decoded(hint)
    terms = vocabulary_terms(hint) if guard and hint else frozenset()
    echoes = [s for s in segments if echoes_vocabulary(s.text, terms)]
    if echoes:
        segments = spliced(segments, echoes, decoded(None))
    return " ".join(s.text for s in segments)


def main() -> None:
    import jiwer
    from faster_whisper import WhisperModel
    from run_bench import normalise

    from callscout.asr.models import resolve_whisper_model
    from callscout.match.catalogue import load_catalogue

    model = WhisperModel(resolve_whisper_model("base"), device="cpu", compute_type="int8")
    catalogues = {name: load_catalogue(CATALOGUES / f"{name}.yaml") for name in ("finanz", "technik")}
    words = {name: catalogue_words(catalogue) for name, catalogue in catalogues.items()}
    clips = make_clips()
    real = exact_clips()
    styles = sys.argv[1:] or list(HINT_STYLES)
    print(f"{'variant':<22} {'names right':>12} {'names invented':>15} {'real-clip WER':>14} {'invented there':>15}")
    for style in styles:
        hints = {name: HINT_STYLES[style](catalogue) for name, catalogue in catalogues.items()}
        found = total = false = 0
        for path, language, catalogue, names in clips:
            text = transcribed(model, path, language, hints[catalogue], guard=style in GUARDED, batched=BATCHED[style][1] if style in BATCHED else None)
            sentence = next(s for _, _, s, n in SENTENCES if n == names)
            total += len(names)
            found += sum(squeezed(name) in squeezed(text) for name in names)
            false += invented(text, sentence, words[catalogue])
        references, hypotheses, real_false = [], [], 0
        for clip in real:
            text = transcribed(model, clip.path, clip.language, hints["finanz"], guard=style in GUARDED, batched=BATCHED[style][1] if style in BATCHED else None)
            references.append(normalise(clip.reference))
            hypotheses.append(normalise(text))
            real_false += invented(text, clip.reference, words["finanz"])
        wer = jiwer.wer(references, hypotheses)
        print(f"{style:<22} {found:>5}/{total:<6} {false:>15} {wer:>14.3f} {real_false:>15}", flush=True)


if __name__ == "__main__":
    main()
