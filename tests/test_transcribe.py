import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from callscout.asr.audio import AudioError, load_channels


def normalise(text: str) -> str:
    text = text.lstrip("\ufeff").lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def reference(shared, relative_path: str) -> str:
    for line in (shared / "realaudio" / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        columns = line.split("\t")
        if columns[0] == relative_path:
            return columns[7]
    raise KeyError(relative_path)


def test_mono_recording_stored_as_identical_stereo_is_one_unknown_speaker(shared_dir):
    channels = load_channels(shared_dir / "realaudio/thorsten-voice/gt/sample02-gt.wav")
    assert [c.role for c in channels] == ["unknown"]


def test_stereo_channels_get_roles_in_the_configured_order(shared_dir):
    path = shared_dir / "realaudio/faster-whisper/stereo_diarization.wav"
    assert [c.role for c in load_channels(path)] == ["agent", "customer"]
    assert [c.role for c in load_channels(path, "customer,agent")] == ["customer", "agent"]
    mono = load_channels(path, "mono")
    assert [c.role for c in mono] == ["unknown"] and mono[0].samples.ndim == 1
    left, right = load_channels(path)
    assert len(left.samples) == len(right.samples) == len(mono[0].samples)
    assert not np.array_equal(left.samples, right.samples)


def test_audio_decodes_as_faster_whispers_own_decoder_does(shared_dir):
    """callscout's decoder skips decode_audio's gc.collect() per file, not a sample."""
    from faster_whisper import decode_audio

    for relative in ("faster-whisper/jfk.flac", "thorsten-voice/gt/sample01-gt.wav", "faster-whisper/stereo_diarization.wav"):
        path = shared_dir / "realaudio" / relative
        assert np.array_equal(load_channels(path, "mono")[0].samples, decode_audio(str(path)))
    stereo = shared_dir / "realaudio/faster-whisper/stereo_diarization.wav"
    left, right = load_channels(stereo)
    expected_left, expected_right = decode_audio(str(stereo), split_stereo=True)
    assert np.array_equal(left.samples, expected_left) and np.array_equal(right.samples, expected_right)


def test_undecodable_audio_is_one_line_error(tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(AudioError) as info:
        load_channels(bad)
    assert str(info.value).startswith("noise.wav: ") and "\n" not in str(info.value)


@pytest.mark.slow
def test_german_word_error_rate_on_real_speech(shared_dir, transcriber):
    import jiwer

    transcript = transcriber.transcribe_file(shared_dir / "realaudio/azure-customspeech/de-DE_testing/audio.wav")
    hypothesis = normalise(" ".join(s.text for s in transcript.segments))
    wer = jiwer.wer(normalise(reference(shared_dir, "azure-customspeech/de-DE_testing/audio.wav")), hypothesis)
    assert transcript.language == "de" and transcript.language_probability > 0.9
    assert wer <= 0.15, f"WER {wer:.3f}: {hypothesis}"
    assert all(s.start is not None and s.end >= s.start for s in transcript.segments)


@pytest.mark.slow
def test_stereo_left_is_agent_right_is_customer(shared_dir, transcriber):
    transcript = transcriber.transcribe_file(shared_dir / "realaudio/faster-whisper/stereo_diarization.wav")
    by_role = {role: normalise(" ".join(s.text for s in transcript.segments if s.speaker == role)) for role in ("agent", "customer")}
    assert "confused complaint against the wizard" in by_role["agent"]
    assert "horizon seems extremely distant" in by_role["customer"]
    assert "horizon" not in by_role["agent"] and "wizard" not in by_role["customer"]


@pytest.mark.slow
def test_silence_yields_no_invented_text(tmp_path, transcriber):
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "trim", "0", "8"], check=True)
    transcript = transcriber.transcribe_file(silence)
    assert transcript.segments == []


def test_vocabulary_hint_names_every_product_first_then_aliases_once_each():
    from callscout.asr.transcribe import vocabulary_hint
    from callscout.match.catalogue import parse_catalogue

    catalogue = parse_catalogue(
        {
            "catalogue": "t",
            "products": [
                {"id": "bu", "name": "Berufsunfähigkeitsversicherung", "aliases": ["BU", "berufsunfähigkeitsversicherung"]},
                {"id": "hausrat", "name": "Hausratversicherung", "aliases": ["Hausrat", "bu"]},
            ],
        }
    )
    assert vocabulary_hint(catalogue) == "Berufsunfähigkeitsversicherung, Hausratversicherung, BU, Hausrat"


def test_the_pipeline_gives_the_transcriber_the_catalogue_vocabulary_unless_switched_off(tmp_path):
    from dataclasses import replace

    from callscout.asr.transcribe import vocabulary_hint
    from callscout.config import Config
    from callscout.match.catalogue import load_catalogue
    from callscout.process import Pipeline
    from callscout.store.database import Store

    catalogue = load_catalogue(Path(__file__).resolve().parents[1] / "fixtures" / "catalogues" / "finanz.yaml")
    with Store(tmp_path / "s.db") as store:
        assert Pipeline(Config(), catalogue, store).transcriber.vocabulary == vocabulary_hint(catalogue)
        off = Pipeline(replace(Config(), catalogue_hotwords=False), catalogue, store)
        assert off.transcriber.vocabulary is None


def test_a_segment_copying_the_product_list_is_an_echo():
    from callscout.asr.transcribe import echoes_vocabulary, vocabulary_terms

    vocabulary = vocabulary_terms("Haftpflichtversicherung, Reise-Kreditkarte, Laptoptasche, Ernährungsplan, Fitness-Abo")
    assert echoes_vocabulary("Haftpflichtversicherung, Reise-Kreditkarte,", vocabulary)
    assert echoes_vocabulary("Laptop-Tasche, Stavos, mit einem Ernährungsplan,", vocabulary)
    # greedy decoding's forms (bench/vocab_bench.py, batched)
    assert echoes_vocabulary("Sint-B Konzerticket im Vorverkauf, Fitness-Abo,", vocabulary)
    assert echoes_vocabulary("Harben, Miegel, Laptop-Tasche, Fügel, Familien", vocabulary)
    assert not echoes_vocabulary("Daten, Test, Training und Bereitstellung.", vocabulary)  # no term
    assert not echoes_vocabulary("Das Fitness-Abo, das Tablet, die Hülle, alles zusammen bitte.", vocabulary)
    assert not echoes_vocabulary("Wir haben eine Haftpflichtversicherung und eine Reise-Kreditkarte.", vocabulary)
    assert not echoes_vocabulary("Das Fitness-Abo, glaube ich,", vocabulary)  # one term only
    assert not echoes_vocabulary("Ja, gut,", vocabulary)


def test_an_echo_is_replaced_by_the_plain_decoding_of_its_stretch():
    from callscout.asr.transcribe import spliced
    from callscout.records import Segment

    said = Segment("customer", "Ich brauche ein Schnellladegerät.", 0.0, 3.0)
    echo = Segment("customer", "Smartphone, Laptop-Rucksack,", 3.0, 4.0)
    whole_echo = Segment("customer", "Laptop-Tasche, Stavos,", 5.0, 8.0)
    plain = [
        Segment("customer", "Ich brauche ein schneller Degrat.", 0.0, 3.0),
        Segment("customer", "Gibt es das Fitter sauber auf?", 5.2, 7.9),
    ]
    assert spliced([said, echo, whole_echo], [echo, whole_echo], plain) == [said, plain[1]]


def _long_recording(tmp_path) -> Path:
    """70 s of real German speech: the fixture clip twice, then silence."""
    import wave

    source = Path(__file__).resolve().parents[1] / "fixtures" / "calls" / "azure_de_testing.wav"
    with wave.open(str(source)) as clip:
        params, frames = clip.getparams(), clip.readframes(clip.getnframes())
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(frames + frames + b"\0" * (params.sampwidth * params.framerate * 2))
    return path


@pytest.mark.slow
def test_a_long_recording_reports_audio_seconds_as_it_is_decoded(tmp_path):
    from callscout.asr.transcribe import Transcriber
    from callscout.config import Config

    path = _long_recording(tmp_path)
    reports: list[tuple[float, float]] = []
    # a report after each batch: batches of one window, so the 70 s take several
    (transcript,) = Transcriber(Config(batch_size=1)).transcribe_files([path], on_progress=lambda done, total: reports.append((done, total)))

    assert transcript.segments
    totals = {total for _, total in reports}
    assert totals == {transcript.duration_s} and transcript.duration_s > 60
    done = [d for d, _ in reports]
    assert len(done) >= 2 and done == sorted(done)  # more than one step, never backwards
    assert 0 < done[0] < transcript.duration_s and done[-1] == pytest.approx(transcript.duration_s)


@pytest.mark.slow
def test_the_sequential_decoder_reports_progress_too(tmp_path):
    from callscout.asr.transcribe import Transcriber
    from callscout.config import Config

    path = _long_recording(tmp_path)
    reports: list[float] = []
    sequential = Transcriber(Config(batched=False, beam_size=1, language="de"))
    (transcript,) = sequential.transcribe_files([path], on_progress=lambda done, total: reports.append(done / total))
    assert len(reports) >= 3 and reports == sorted(reports) and 0 < reports[0] < 0.6
    assert reports[-1] == 1.0  # the silence at the end does not keep the bar from finishing


@pytest.mark.slow
def test_process_shows_audio_minutes_of_a_long_recording_while_it_is_transcribed(tmp_path):
    import io

    from rich.console import Console

    from callscout.cli.output import run_with_progress
    from callscout.config import Config
    from callscout.match.catalogue import load_catalogue
    from callscout.process import Pipeline
    from callscout.store.database import Store

    path = _long_recording(tmp_path)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    catalogue = load_catalogue(Path(__file__).resolve().parents[1] / "fixtures" / "catalogues" / "finanz.yaml")
    with Store(tmp_path / "s.db") as store:
        pipeline = Pipeline(Config(encoder="hashing", batch_size=1), catalogue, store)
        summary = run_with_progress(pipeline, [path], None, console=console)
    assert summary.count("done") == 1
    shown = re.findall(r"long\.wav .*?(\d+\.\d) of 1\.2 audio min", out.getvalue())
    assert len(set(shown)) >= 2, out.getvalue()[-2000:]  # the bar moved while the file was decoded
