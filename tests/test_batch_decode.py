"""Batched decoding across recordings (``callscout.asr.batch_decode``).

Window packing and time mapping are plain unit tests. The slow ones run the real base model:
recordings decoded together give each its own language and the text it gets alone, a bad
file in a group fails alone, and the unwritten end of a full 30 s window is decoded again.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from callscout.asr import batch_decode, windowing
from callscout.asr.transcribe import Transcriber
from callscout.asr.windowing import SAMPLE_RATE, Stream, Window, packed

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "fixtures" / "calls"
S = SAMPLE_RATE


def test_spans_are_packed_in_order_into_windows_of_at_most_the_chunk_length():
    spans = [(0, 10 * S), (12 * S, 25 * S), (26 * S, 31 * S), (40 * S, 50 * S)]
    windows = packed(0, spans, chunk_seconds=30)
    assert [w.spans for w in windows] == [[(0, 10 * S), (12 * S, 25 * S), (26 * S, 31 * S)], [(40 * S, 50 * S)]]
    assert [w.seconds for w in windows] == [28.0, 10.0]


def test_a_span_longer_than_a_window_is_cut_to_one():
    assert packed(3, [(0, 45 * S)], chunk_seconds=30) == [Window(3, [(0, 30 * S)])]
    assert packed(3, [], chunk_seconds=30) == []


def test_window_times_map_back_to_the_recording_across_the_removed_silence():
    window = Window(0, [(2 * S, 5 * S), (10 * S, 12 * S)])  # 3 s, then 2 s of speech
    assert window.original_time(0.0) == 2.0
    assert window.original_time(2.5) == 4.5
    assert window.original_time(3.5) == 10.5
    assert window.original_time(9.0) == 12.0  # past the end: the window's last sample
    assert window.after(1.0) == [(3 * S, 5 * S), (10 * S, 12 * S)]
    assert window.after(4.0) == [(11 * S, 12 * S)]


def test_only_the_unwritten_end_of_a_full_window_is_decoded_again():
    full = Window(0, [(0, 29 * S)])
    short = Window(0, [(0, 12 * S)])
    assert windowing.unwritten_tail(full, 26.0)
    assert not windowing.unwritten_tail(full, 28.5)  # within TAIL_SECONDS: VAD padding
    assert not windowing.unwritten_tail(full, 0.0)  # nothing written: noise, not a cut-off
    assert not windowing.unwritten_tail(short, 5.0)  # padding follows a short window


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def text_of(transcript) -> str:
    return words(" ".join(s.text for s in transcript.segments))


@pytest.mark.slow
def test_recordings_decoded_together_keep_their_own_language_and_text(transcriber, tmp_path):
    german, english = CALLS / "azure_de_testing.wav", CALLS / "quilter_en.wav"
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    together = transcriber.transcribe_files([german, broken, english])
    assert isinstance(together[1], Exception) and "broken.wav" in str(together[1])
    alone = [transcriber.transcribe_file(german), transcriber.transcribe_file(english)]
    for pair, language in zip(((together[0], alone[0]), (together[2], alone[1])), ("de", "en")):
        assert [t.language for t in pair] == [language, language]
        assert all(t.language_probability > 0.9 for t in pair)
        # greedy decoding is deterministic, but batch padding may shift a rare token
        import jiwer

        assert jiwer.wer(text_of(pair[1]), text_of(pair[0])) <= 0.05


@pytest.fixture
def full_windows(tmp_path, shared_dir) -> Path:
    """The three Azure German clips joined (82 s): its second 30 s window ends mid-sentence."""
    folder = shared_dir / "realaudio" / "azure-customspeech"
    clips = [str(folder / name) for name in ("de-DE_testing/audio.wav", "de-DE_training/audio1.wav", "de-DE_training/audio2.wav")]
    out = tmp_path / "de_80s.wav"
    parts = []
    for index, clip in enumerate(clips):
        part = out.parent / f"part{index}.wav"
        subprocess.run(["sox", clip, "-r", "16000", "-c", "1", "-b", "16", str(part), "pad", "0", "0.8"], check=True)
        parts.append(str(part))
    subprocess.run(["sox", *parts, str(out)], check=True)
    return out


@pytest.mark.slow
def test_the_unwritten_end_of_a_full_window_is_decoded_again(transcriber, full_windows, monkeypatch):
    lost = "nachdem sie ein projekt erstellt haben"
    repaired = Transcriber(replace(transcriber.config, language="de"), model=transcriber.model)
    assert lost in text_of(repaired.transcribe_file(full_windows))

    monkeypatch.setattr(windowing, "FULL_SECONDS", float("inf"))
    unrepaired = Transcriber(replace(transcriber.config, language="de"), model=transcriber.model)
    assert lost not in text_of(unrepaired.transcribe_file(full_windows))


def test_no_speech_gives_no_windows():
    silence = np.zeros(5 * S, dtype=np.float32)
    assert windowing.speech_windows(0, silence, 30) == []



def test_the_vad_reads_streams_side_by_side_and_finds_the_same_windows():
    from callscout.asr.audio import load_channels

    streams = [
        Stream(number, channel.samples)
        for number, name in enumerate(["stereo_umzug.wav", "azure_de_testing.wav", "quilter_en.wav"])
        for channel in load_channels(CALLS / name)
    ]
    assert len(streams) == 4  # the stereo call's two channels first
    one_by_one = windowing.stream_windows(streams, 30, threads=1)
    side_by_side = windowing.stream_windows(streams, 30, threads=2)
    assert [(w.stream, w.spans) for w in side_by_side] == [(w.stream, w.spans) for w in one_by_one]
    assert sorted({w.stream for w in one_by_one}) == [0, 1, 2, 3]
    assert [w.stream for w in one_by_one] == sorted(w.stream for w in one_by_one)

@pytest.mark.slow
def test_a_window_echoing_the_hotwords_is_decoded_again_without_them(transcriber):
    """Only the echoing windows of a batch (here: the German call's) are decoded again, from
    the batch's own encoder output; their text is then the plain decoding's (batch padding
    aside)."""
    import jiwer

    from callscout.asr.audio import load_channels
    from callscout.asr.batch_decode import BatchDecoder

    german = load_channels(CALLS / "azure_de_testing.wav")[0].samples
    english = load_channels(CALLS / "quilter_en.wav")[0].samples
    streams = [Stream("de", german, "de"), Stream("en", english, "en")]
    plain = BatchDecoder(transcriber.model).decode(streams)
    flagged = []

    def echoes(text: str) -> bool:  # every German window, no English one
        flagged.append(text)
        return bool(re.search(r"\b(und|sie|der|ist)\b", text.lower()))

    hot = BatchDecoder(transcriber.model, hotwords="Hausratversicherung, Juniordepot", echoes=echoes).decode(streams)
    assert any(echoes(text) for text in flagged) and not all(echoes(text) for text in flagged)
    plain_german = words(" ".join(p.text for p in plain.pieces[0]))
    assert jiwer.wer(plain_german, words(" ".join(p.text for p in hot.pieces[0]))) <= 0.02
    assert hot.pieces[1] and not any(echoes(p.text) for p in hot.pieces[1])


def test_a_short_window_is_encoded_as_its_speech_and_padding_not_30_s():
    assert windowing.encoder_frames(1.5) == 1000
    assert windowing.encoder_frames(2.0) == 1000  # 2 s of speech, 8 s of padding
    assert windowing.encoder_frames(3.0) == 2000
    assert windowing.encoder_frames(12.0) == 2000
    assert windowing.encoder_frames(12.5) == 3000
    assert windowing.encoder_frames(24.0) == 3000  # 6 s of padding: capped at Whisper's 30 s
    assert windowing.encoder_frames(30.0) == 3000


def test_doubt_follows_whispers_own_fallback_thresholds():
    loop = "Kommentator, " + "Hättestellung, " * 30  # a fitted window's real output, once
    assert batch_decode.doubtful(loop, -0.11)
    assert batch_decode.doubtful("Eure Tröte nervt.", -1.2)
    assert not batch_decode.doubtful("Der Kommentator nimmt das Headset ab und wendet sich einem Kollegen zu.", -0.18)
    assert not batch_decode.doubtful("", -0.5)


class EncoderInputs:
    """The real model, recording the input length of each encoder batch."""

    def __init__(self, model):
        self._model = model
        self.frames: list[int] = []
        self.batches: list[int] = []

    def encode(self, features):
        self.frames += [features.shape[-1]] * len(features)
        self.batches.append(len(features))
        return self._model.encode(features)

    def __getattr__(self, name):
        return getattr(self._model, name)


@pytest.mark.slow
def test_short_windows_are_encoded_fitted_and_a_doubted_one_again_with_30_s(transcriber, monkeypatch):
    import jiwer

    from callscout.asr.audio import load_channels
    from callscout.asr.batch_decode import BatchDecoder

    english = load_channels(CALLS / "quilter_en.wav")[0].samples  # 5.9 s
    streams = [Stream("en", english)]
    whole = BatchDecoder(transcriber.model, fitted=False).decode(streams)
    expected = words(" ".join(p.text for p in whole.pieces[0]))

    spy = EncoderInputs(transcriber.model)
    fitted = BatchDecoder(spy, fitted=True).decode(streams)
    assert spy.frames == [2000]  # 5.9 s of speech and padding: 20 s, not 30 s
    assert fitted.languages["en"][0] == "en"
    assert jiwer.wer(expected, words(" ".join(p.text for p in fitted.pieces[0]))) <= 0.1

    spy.frames.clear()
    monkeypatch.setattr(batch_decode, "doubtful", lambda text, avg_logprob: True)
    doubted = BatchDecoder(spy, fitted=True).decode(streams)
    assert spy.frames == [2000, 3000]  # doubted output is not kept: decoded again with 30 s
    assert jiwer.wer(expected, words(" ".join(p.text for p in doubted.pieces[0]))) <= 0.02


class GenerateCalls:
    """The real ctranslate2 model, recording the beam size and batch size of each generate()."""

    def __init__(self, model):
        self._model = model
        self.calls: list[tuple[int, int]] = []

    def generate(self, encoded, prompts, **options):
        self.calls.append((options["beam_size"], len(prompts)))
        return self._model.generate(encoded, prompts, **options)

    def __getattr__(self, name):
        return getattr(self._model, name)


@pytest.mark.slow
def test_windows_the_greedy_decoder_is_unsure_of_are_searched_with_beams(transcriber, monkeypatch):
    from callscout.asr.audio import load_channels
    from callscout.asr.batch_decode import UNSURE_BEAM, BatchDecoder

    german = load_channels(CALLS / "azure_de_testing.wav")[0].samples
    english = load_channels(CALLS / "quilter_en.wav")[0].samples
    streams = [Stream("de", german, "de"), Stream("en", english, "en")]
    whisper = EncoderInputs(transcriber.model)
    whisper.model = GenerateCalls(transcriber.model.model)

    monkeypatch.setattr(batch_decode, "UNSURE_LOGPROB", float("-inf"))  # sure of everything
    sure = BatchDecoder(whisper, fitted=False).decode(streams)
    assert {beam for beam, _ in whisper.model.calls} == {1}

    whisper.model.calls.clear()
    whisper.frames.clear()
    monkeypatch.setattr(batch_decode, "UNSURE_LOGPROB", 0.0)  # sure of nothing
    unsure = BatchDecoder(whisper, fitted=False).decode(streams)
    greedy, searched = [c for c in whisper.model.calls if c[0] == 1], [c for c in whisper.model.calls if c[0] == UNSURE_BEAM]
    assert sum(n for _, n in searched) == sum(n for _, n in greedy)  # every window searched again
    assert len(whisper.frames) == sum(n for _, n in greedy)  # from the same encoder output
    for stream in (0, 1):
        assert unsure.pieces[stream] and sure.pieces[stream]


def test_a_long_segment_is_cut_at_its_sentences_timed_by_their_length():
    text = "Guten Tag. Wie geht es Ihnen? Wir ziehen um!  Nach Köln z.B. im Mai"
    assert batch_decode.sentence_times(text, 10.0, 30.0) == [
        ("Guten Tag.", 10.0, 13.17),
        ("Wie geht es Ihnen?", 13.17, 18.89),
        ("Wir ziehen um!", 18.89, 23.33),
        ("Nach Köln z.B. im Mai", 23.33, 30.0),  # "z.B." inside a sentence stays
    ]
    assert batch_decode.sentence_times("Ein Satz ohne Ende", 0.0, 12.0) == [("Ein Satz ohne Ende", 0.0, 12.0)]


@pytest.mark.slow
def test_a_window_written_as_one_long_segment_is_cut_at_its_sentences(transcriber, full_windows, monkeypatch):
    import jiwer

    from callscout.asr.transcribe import vocabulary_hint
    from callscout.match.catalogue import load_catalogue

    vocabulary = vocabulary_hint(load_catalogue(ROOT / "fixtures" / "catalogues" / "finanz.yaml"))
    config = replace(transcriber.config, language="de")
    cut = Transcriber(config, model=transcriber.model, vocabulary=vocabulary).transcribe_file(full_windows)
    monkeypatch.setattr(batch_decode, "SPLIT_SECONDS", float("inf"))
    whole = Transcriber(config, model=transcriber.model, vocabulary=vocabulary).transcribe_file(full_windows)

    assert max(s.end - s.start for s in whole.segments) > 20  # the failure: a window as one segment
    assert len(cut.segments) >= 2 * len(whole.segments)
    assert max(s.end - s.start for s in cut.segments) <= 15
    assert jiwer.wer(text_of(whole), text_of(cut)) <= 0.05  # the same words, only cut
    assert [s.start for s in cut.segments] == sorted(s.start for s in cut.segments)
    assert all(0 <= s.start < s.end <= 82.5 for s in cut.segments)


def test_a_batch_splits_into_nearly_equal_runs_one_per_worker():
    assert batch_decode.split(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert batch_decode.split(3, 2) == [[0, 1], [2]] or batch_decode.split(3, 2) == [[0], [1, 2]]
    assert batch_decode.split(1, 2) == [[0]]
    assert batch_decode.split(5, 1) == [[0, 1, 2, 3, 4]]


def test_one_decoder_worker_unless_configured_and_several_share_the_cores():
    from callscout.asr.transcribe import decoder_threads
    from callscout.config import Config

    assert decoder_threads("cpu", Config(), cores=2) == (1, 0)  # CTranslate2's own thread count
    assert decoder_threads("cuda", Config(), cores=8) == (1, 0)
    assert decoder_threads("cpu", Config(num_workers=2), cores=2) == (2, 1)
    assert decoder_threads("cpu", Config(num_workers=2), cores=8) == (2, 4)
    assert decoder_threads("cpu", Config(num_workers=4), cores=2) == (4, 1)
    assert decoder_threads("cpu", Config(num_workers=2, cpu_threads=2), cores=8) == (2, 2)
    assert decoder_threads("cuda", Config(num_workers=2), cores=8) == (2, 0)


@pytest.mark.slow
def test_the_parts_of_a_batch_are_decoded_on_the_models_workers_as_one_batch_would_be(transcriber):
    """``num_workers = 2``: a batch in two parts, each on its worker, gives what one batch gives."""
    import jiwer

    from callscout.asr.audio import load_channels
    from callscout.asr.batch_decode import BatchDecoder
    from callscout.config import Config

    model = Transcriber(Config(num_workers=2)).model
    assert model.model.num_workers == 2
    german = load_channels(CALLS / "azure_de_testing.wav")[0].samples
    english = load_channels(CALLS / "quilter_en.wav")[0].samples
    streams = [Stream("de", german), Stream("en", english), Stream("de again", german)]
    one = BatchDecoder(transcriber.model, workers=1, fitted=False).decode(streams)
    spy = EncoderInputs(model)
    two = BatchDecoder(spy, workers=2, fitted=False).decode(streams)
    assert sorted(spy.batches) == [2, 3]  # one batch of five windows (two per German clip), in two parts
    assert two.languages.keys() == one.languages.keys()
    for recording, (language, probability) in one.languages.items():
        assert two.languages[recording][0] == language
        assert two.languages[recording][1] == pytest.approx(probability, abs=0.02)
    for stream in range(3):
        expected = words(" ".join(p.text for p in one.pieces[stream]))
        assert expected and jiwer.wer(expected, words(" ".join(p.text for p in two.pieces[stream]))) <= 0.02
