import wave
from pathlib import Path

import numpy as np
import pytest

from callscout.inputs.discovery import read_meta
from callscout.inputs.transcripts import parse_transcript

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CALLS = FIXTURES / "calls"
SHARED = ROOT.parent / "shared"

FRAME_S = 0.02
SILENCE_GAP_S = 0.3


def read_stereo(path):
    with wave.open(str(path), "rb") as audio:
        params = audio.getparams()
        samples = np.frombuffer(audio.readframes(params.nframes), dtype="<i2")
    return params, samples.reshape(-1, params.nchannels).astype(np.float64)


def frame_energy(channel, rate):
    size = int(rate * FRAME_S)
    frames = channel[: len(channel) // size * size].reshape(-1, size)
    return np.sqrt((frames**2).mean(axis=1))


def active_regions(active):
    """(first, last) frame indices of runs of activity, bridging short pauses inside a turn."""
    gap = int(SILENCE_GAP_S / FRAME_S)
    regions = []
    for index in np.flatnonzero(active):
        if regions and index - regions[-1][1] <= gap:
            regions[-1][1] = index
        else:
            regions.append([index, index])
    return regions


def speech_by_channel(samples, rate):
    """(left energy, right energy) of each stretch of speech."""
    left, right = frame_energy(samples[:, 0], rate), frame_energy(samples[:, 1], rate)
    regions = active_regions(np.maximum(left, right) > 100)
    return [(left[a : b + 1].sum(), right[a : b + 1].sum()) for a, b in regions]


def test_stereo_fixture_format():
    params, samples = read_stereo(CALLS / "stereo_umzug.wav")
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 16000)
    assert 20 <= params.nframes / params.framerate <= 30


def test_stereo_fixture_has_alternating_one_sided_turns():
    params, samples = read_stereo(CALLS / "stereo_umzug.wav")
    stretches = speech_by_channel(samples, params.framerate)
    for left, right in stretches:
        assert min(left, right) <= 0.001 * max(left, right)
    sides = ["left" if left > right else "right" for left, right in stretches]
    turns = [side for index, side in enumerate(sides) if index == 0 or sides[index - 1] != side]
    assert turns == ["left", "right"] * 3


def test_stereo_fixture_channels_never_overlap():
    _, samples = read_stereo(CALLS / "stereo_umzug.wav")
    assert not np.any((samples[:, 0] != 0) & (samples[:, 1] != 0))


def test_german_fixture_is_real_speech_mono_16k():
    with wave.open(str(CALLS / "azure_de_testing.wav"), "rb") as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (1, 16000)
        assert 30 <= audio.getnframes() / audio.getframerate() <= 40


def test_licence_and_readme_are_present():
    assert "MIT License" in (CALLS / "LICENSE-azure-customspeech.md").read_text(encoding="utf-8")
    readme = (CALLS / "README.md").read_text(encoding="utf-8")
    listed = [path.name for path in CALLS.iterdir() if path.name != "README.md"]
    assert all(f"`{name}`" in readme for name in listed)
    assert "CC0" in readme and "espeak-ng" in readme


def test_fixtures_stay_small():
    total = sum(path.stat().st_size for path in FIXTURES.rglob("*") if path.is_file())
    assert total < 3_500_000


@pytest.mark.parametrize(
    ("fixture", "shared"),
    [
        ("catalogues/finanz.yaml", "catalogues/finanz.yaml"),
        ("catalogues/technik.yaml", "catalogues/technik.yaml"),
        ("catalogues/telko.yaml", "catalogues/telko.yaml"),
        ("calls/azure_de_testing.wav", "realaudio/azure-customspeech/de-DE_testing/audio.wav"),
        ("calls/LICENSE-azure-customspeech.md", "realaudio/azure-customspeech/LICENSE.md"),
    ],
)
def test_copies_equal_the_shared_originals(fixture, shared):
    original = SHARED / shared
    if not original.exists():
        pytest.skip(f"shared folder not available: {original}")
    assert (FIXTURES / fixture).read_bytes() == original.read_bytes()


def test_german_transcript_fixture():
    transcript = parse_transcript(CALLS / "kunde_hochzeit.txt")
    assert [s.speaker for s in transcript.segments] == ["agent", "customer"] * 5
    customer = " ".join(s.text for s in transcript.segments if s.speaker == "customer")
    for phrase in ["geheiratet", "neue Wohnung", "Haftpflicht habe ich schon"]:
        assert phrase in customer
    assert all(s.start is not None for s in transcript.segments)


def test_german_transcript_sidecar():
    meta = read_meta(CALLS / "kunde_hochzeit.txt")
    assert (meta.customer_id, meta.account_manager, meta.recorded_at) == ("K-1001", "Lena Wirtz", "2026-11-02T10:15:00")


def test_laptop_vtt_fixture():
    transcript = parse_transcript(CALLS / "meeting_laptop.vtt")
    assert [s.speaker for s in transcript.segments] == ["agent", "customer"] * 3 + ["agent"]
    customer = " ".join(s.text for s in transcript.segments if s.speaker == "customer")
    for phrase in ["bought a new laptop", "today", "I type a lot and the laptop keyboard is uncomfortable"]:
        assert phrase in customer
    assert transcript.duration_s == 34.0
