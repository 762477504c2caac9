"""Whisper failure modes: hold music, noise and silence must not turn into invented words, and
the repetition guard cuts decoding loops.

The audio tests are ``slow`` (the real base model, through the session fixture ``transcriber``);
each runs through both decoders, sequential and batched, sharing the one loaded model. The
sounds are made with sox (``-R``: the same noise every run). Measured with faster-whisper 1.2.1
and the base model: every non-speech sound below gives zero segments in both modes (the quiet
ones, the tone and the melody also with the VAD off), so the tests assert exactly that, not
merely "no real words". Language detection on them says "en" at p ~0.55-0.57: a guess, not asserted.
The repetition guard tests are plain unit tests and stay fast.

tests/test_transcribe.py already checks 8 s of silence with the default decoder.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from callscout.asr.guards import MAX_LOOP_WORDS, MAX_REPEATS, collapse_loops, doubtless, without_repetitions
from callscout.asr.transcribe import Transcriber
from callscout.records import Segment

ROOT = Path(__file__).resolve().parents[1]
GERMAN_SPEECH = ROOT / "fixtures" / "calls" / "azure_de_testing.wav"  # 34.14 s, read German text
SECONDS = 20

# name -> sox arguments after "sox -R"; each makes SECONDS s of 16 kHz mono audio.
SYNTH = {
    "tone_440hz": ["-n", "-r", "16000", "-c", "1", "{out}", "synth", str(SECONDS), "sine", "440", "vol", "0.5"],
    "white_noise_quiet": ["-n", "-r", "16000", "-c", "1", "{out}", "synth", str(SECONDS), "whitenoise", "vol", "0.05"],
    "pink_noise_quiet": ["-n", "-r", "16000", "-c", "1", "{out}", "synth", str(SECONDS), "pinknoise", "vol", "0.05"],
    "silence": ["-n", "-r", "16000", "-c", "1", "{out}", "trim", "0", str(SECONDS)],
    # Loud enough that the VAD lets a stretch of it through to the model (checked below).
    "pink_noise_loud": ["-n", "-r", "16000", "-c", "1", "{out}", "synth", str(SECONDS), "pinknoise", "vol", "0.8"],
}


def sox(*args: str) -> None:
    subprocess.run(["sox", "-R", *args], check=True, capture_output=True)


def make_sound(folder: Path, name: str) -> Path:
    out = folder / f"{name}.wav"
    if name == "melody":  # two notes, a fifth apart, half a second each: a simple hold-music loop
        notes = []
        for number, frequency in enumerate(("440", "660")):
            note = folder / f"note{number}.wav"
            sox("-n", "-r", "16000", "-c", "1", str(note), "synth", "0.5", "sine", frequency, "vol", "0.5", "fade", "0.02", "0.5", "0.05")
            notes.append(str(note))
        sox(*notes, str(out), "repeat", str(SECONDS - 1))
    else:
        sox(*(str(out) if arg == "{out}" else arg for arg in SYNTH[name]))
    return out


@pytest.fixture(scope="module")
def sounds(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sounds")


@pytest.fixture(params=["sequential", "batched"])
def decoder(request, transcriber, monkeypatch) -> Transcriber:
    """The session's model behind either decoder; ``decoder.engines`` records which one ran."""
    chosen = Transcriber(replace(transcriber.config, batched=request.param == "batched"), model=transcriber.model)
    chosen.engines = set()
    for name in ("_batched", "_sequential"):

        def recorded(*args, _method=getattr(chosen, name), _name=name.strip("_")):
            chosen.engines.add(_name)
            return _method(*args)

        monkeypatch.setattr(chosen, name, recorded)
    return chosen


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tone_440hz", "melody", "white_noise_quiet", "pink_noise_quiet", "silence", "pink_noise_loud"])
def test_non_speech_yields_no_segments(sounds, decoder, name, request):
    path = sounds / f"{name}.wav"
    if not path.exists():
        make_sound(sounds, name)
    transcript = decoder.transcribe_file(path)
    assert decoder.engines == {request.node.callspec.params["decoder"]}
    assert transcript.duration_s == pytest.approx(SECONDS, abs=0.01)  # read whole
    assert transcript.segments == [], [s.text for s in transcript.segments]


@pytest.mark.slow
def test_loud_noise_in_a_call_known_to_be_german_yields_no_segments(sounds, decoder):
    """With the language fixed the model is pushed to write German over the noise
    (batched: "Das ist nicht so." 13 times before ``doubtless``)."""
    path = sounds / "pink_noise_loud.wav"
    if not path.exists():
        make_sound(sounds, "pink_noise_loud")
    german = Transcriber(replace(decoder.config, language="de"), model=decoder.model)
    assert german.transcribe_file(path).segments == []


@pytest.mark.slow
def test_loud_pink_noise_does_get_past_the_vad(sounds):
    """So ``pink_noise_loud`` above tests the model and the guard, not only the VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from callscout.asr.audio import load_channels

    path = sounds / "pink_noise_loud.wav"
    if not path.exists():
        make_sound(sounds, "pink_noise_loud")
    assert get_speech_timestamps(load_channels(path)[0].samples, VadOptions())


@pytest.fixture(scope="module")
def held_call(sounds) -> Path:
    """20 s of hold music, the German speech (34.14 s), then 20 s of a 440 Hz tone."""
    melody = sounds / "melody.wav"
    if not melody.exists():
        make_sound(sounds, "melody")
    tone = sounds / "tone_440hz.wav"
    if not tone.exists():
        make_sound(sounds, "tone_440hz")
    out = sounds / "held_call.wav"
    sox(str(melody), str(GERMAN_SPEECH), str(tone), str(out))
    return out


@pytest.mark.slow
def test_hold_music_around_speech_adds_no_words_and_keeps_the_language(held_call, decoder, request):
    import jiwer

    speech_only = " ".join(words(" ".join(s.text for s in decoder.transcribe_file(GERMAN_SPEECH).segments)))
    transcript = decoder.transcribe_file(held_call)
    assert decoder.engines == {request.node.callspec.params["decoder"]}

    assert transcript.language == "de" and transcript.language_probability > 0.9  # not misled by 20 s of music
    assert transcript.duration_s == pytest.approx(2 * SECONDS + 34.14, abs=0.02)
    speech_start, speech_end = SECONDS, SECONDS + 34.14
    assert transcript.segments
    assert all(speech_start - 0.5 <= s.start and s.end <= speech_end + 0.5 for s in transcript.segments), [
        (s.start, s.end) for s in transcript.segments
    ]
    text = " ".join(words(" ".join(s.text for s in transcript.segments)))
    assert text.startswith("sobald der test abgeschlossen ist") and text.endswith("aktivieren oder deaktivieren")
    assert jiwer.wer(speech_only, text) <= 0.1, text


# the repetition guard (fast)


def test_a_phrase_looping_more_than_max_repeats_collapses_to_one():
    assert MAX_REPEATS == 3
    assert collapse_loops("ja und dann und dann und dann und dann und dann gut") == "ja und dann gut"
    assert collapse_loops("nein nein nein nein nein") == "nein"
    assert collapse_loops("ha " * 40) == "ha"


def test_repeats_up_to_max_repeats_are_speech_and_stay():
    for text in ("ja und dann und dann und dann gut", "ja ja", "nein nein nein", "sehr sehr gut"):
        assert collapse_loops(text) == text


def test_loops_ignore_case_and_punctuation_and_keep_the_first_form():
    assert collapse_loops("Danke. danke, Danke! danke danke") == "Danke."
    assert collapse_loops("Wir haben, wir haben, wir haben, wir haben geheiratet.") == "Wir haben, geheiratet."


def test_loops_up_to_max_loop_words_long_collapse():
    phrase = " ".join(f"w{n}" for n in range(MAX_LOOP_WORDS))
    assert collapse_loops(" ".join([phrase] * 5) + " ende") == phrase + " ende"


@dataclass
class Piece:  # the fields of faster-whisper's Segment that ``doubtless`` reads
    text: str
    no_speech_prob: float
    avg_logprob: float
    start: float = 0.0


def test_pieces_the_model_doubted_and_found_unlikely_are_dropped():
    pieces = [Piece(" you", 0.76, -1.21), Piece(" Guten Tag.", 0.76, -0.4), Piece(" Hallo", 0.1, -1.5)]
    assert [p.text for p in doubtless(pieces)] == [" Guten Tag.", " Hallo"]


def test_a_doubted_piece_repeating_the_previous_one_is_dropped_a_sure_one_stays():
    noise = [Piece(" Das ist nicht so.", 0.76, -0.31) for _ in range(13)]
    assert [p.text for p in doubtless(noise)] == [" Das ist nicht so."]
    takes = [Piece(" Mist, wieder nichts geschafft.", 0.05, -0.3) for _ in range(7)]
    assert list(doubtless(takes)) == takes


def test_wordless_pieces_are_dropped():
    assert list(doubtless([Piece(" ...", 0.1, -0.2), Piece(" ♪", 0.9, -0.2)])) == []


def segment(text: str, start: float, speaker: str = "customer", length: float = 1.0) -> Segment:
    return Segment(speaker, text, start, start + length)


def test_a_segment_repeating_the_previous_one_over_the_same_audio_is_dropped():
    kept = without_repetitions(
        [segment("Vielen Dank.", 0, length=2), segment("vielen Dank", 1), segment("Vielen Dank!", 1.5), segment("Auf Wiederhören.", 3)]
    )
    assert kept == [segment("Vielen Dank.", 0, length=2), segment("Auf Wiederhören.", 3)]


def test_the_same_words_said_again_are_kept():
    # the ~6 min bench file has seven speakers saying one sentence in a row
    takes = [segment("Mist, wieder nichts geschafft.", 2.0 * n) for n in range(7)]
    assert without_repetitions(takes) == takes
    kept = without_repetitions([segment("Ja.", 0), segment("Wir ziehen um.", 1), segment("Ja.", 2)])
    assert [s.text for s in kept] == ["Ja.", "Wir ziehen um.", "Ja."]


def test_a_repeat_without_times_counts_as_the_same_audio():
    kept = without_repetitions([Segment("customer", "Hallo?"), Segment("customer", "hallo")])
    assert [s.text for s in kept] == ["Hallo?"]


def test_wordless_segments_are_dropped_and_do_not_break_a_repeat():
    kept = without_repetitions(
        [segment("...", 0), segment("Hallo?", 1, length=3), segment("♪", 2), segment("Hallo?", 3), segment("- -", 4)]
    )
    assert kept == [segment("Hallo?", 1, length=3)]


def test_a_looping_segment_keeps_its_times_and_speaker():
    # 12 words in 2 s: more than the audio holds
    looping = Segment("agent", "ja und dann und dann und dann und dann und dann gut", 4.5, 6.5, "Berater")
    assert without_repetitions([looping]) == [Segment("agent", "ja und dann gut", 4.5, 6.5, "Berater")]


def test_a_segment_that_only_loops_the_previous_one_is_dropped_after_collapsing():
    kept = without_repetitions([segment("und dann", 0, length=2), segment("und dann und dann und dann und dann", 1)])
    assert kept == [segment("und dann", 0, length=2)]


def test_a_looped_phrase_is_collapsed_only_where_the_audio_cannot_hold_the_words():
    looped = "Mist, wieder nichts geschafft. " * 8  # 32 words
    assert [s.text for s in without_repetitions([segment(looped, 0.0, length=4.0)])] == ["Mist, wieder nichts geschafft."]
    said = without_repetitions([segment(looped.strip(), 10.0, length=16.0)])  # 2 words/s: eight real takes
    assert [s.text for s in said] == [looped.strip()]
    untimed = without_repetitions([Segment("customer", looped)])
    assert [s.text for s in untimed] == ["Mist, wieder nichts geschafft."]
