import json
import os
from pathlib import Path

import pytest

from callscout.inputs.discovery import (
    AUDIO_SUFFIXES,
    InputError,
    InputFile,
    customer_from_name,
    discover,
    read_meta,
)
from callscout.records import CallMeta

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "calls"


def touch(path, content=b""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def sidecar(folder, name, data):
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def names(inputs, root):
    return [item.path.relative_to(root).as_posix() for item in inputs]


def test_audio_suffixes():
    assert AUDIO_SUFFIXES == {".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac", ".mp4", ".webm", ".aac"}


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


# --- read_meta ------------------------------------------------------------------------------


def test_read_meta_full(tmp_path):
    data = {"customer_id": "K-1", "account_manager": "Lena", "recorded_at": "2026-11-02T10:15:00"}
    sidecar(tmp_path, "call1.meta.json", data)
    assert read_meta(tmp_path / "call1.wav") == CallMeta("K-1", "Lena", "2026-11-02T10:15:00")


def test_read_meta_missing_sidecar_is_empty(tmp_path):
    assert read_meta(tmp_path / "call1.wav") == CallMeta()


def test_read_meta_partial_and_extra_keys(tmp_path):
    sidecar(tmp_path, "call1.meta.json", {"customer_id": 1001, "account_manager": " ", "topic": "x"})
    assert read_meta(tmp_path / "call1.wav") == CallMeta(customer_id="1001")


def test_read_meta_name_drops_only_the_last_suffix(tmp_path):
    sidecar(tmp_path, "call.v2.meta.json", {"customer_id": "K-2"})
    assert read_meta(tmp_path / "call.v2.mp3").customer_id == "K-2"
    assert read_meta(tmp_path / "call.mp3") == CallMeta()


def test_read_meta_accepts_bom_and_dates(tmp_path):
    (tmp_path / "a.meta.json").write_bytes(b'\xef\xbb\xbf{"recorded_at": "2026-11-02"}')
    assert read_meta(tmp_path / "a.wav").recorded_at == "2026-11-02"


def test_read_meta_for_transcripts(tmp_path):
    sidecar(tmp_path, "a.meta.json", {"customer_id": "K-3"})
    assert read_meta(tmp_path / "a.vtt").customer_id == "K-3"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "call1.meta.json: line 1: invalid JSON (Expecting property name enclosed in double quotes)"),
        ("", "call1.meta.json: line 1: invalid JSON (Expecting value)"),
        ("[1]", "call1.meta.json: sidecar must be a JSON object with customer_id, account_manager, recorded_at"),
        ('{"customer_id": ["K"]}', "call1.meta.json: 'customer_id' must be a string, got list"),
        ('{"account_manager": true}', "call1.meta.json: 'account_manager' must be a string, got bool"),
        ('{"recorded_at": "gestern"}', "call1.meta.json: 'recorded_at' is not an ISO 8601 date/time: 'gestern'"),
    ],
)
def test_read_meta_broken_sidecar(tmp_path, content, message):
    sidecar(tmp_path, "call1.meta.json", content)
    with pytest.raises(InputError) as caught:
        read_meta(tmp_path / "call1.wav")
    assert str(caught.value) == message


def test_read_meta_invalid_utf8(tmp_path):
    (tmp_path / "a.meta.json").write_bytes(b'{"customer_id": "\xff"}')
    with pytest.raises(InputError, match=r"^a\.meta\.json: sidecar is not valid UTF-8$"):
        read_meta(tmp_path / "a.wav")


def test_read_meta_sidecar_folder_is_an_error(tmp_path):
    (tmp_path / "a.meta.json").mkdir()
    with pytest.raises(InputError, match=r"^a\.meta\.json: sidecar must be a file in the recording's own folder$"):
        read_meta(tmp_path / "a.wav")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_read_meta_refuses_a_sidecar_linking_out_of_the_folder(tmp_path):
    outside = sidecar(touch(tmp_path / "elsewhere" / "x").parent, "secret.json", {"customer_id": "K-9"})
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "a.meta.json").symlink_to(outside)
    with pytest.raises(InputError, match=r"^a\.meta\.json: sidecar must be a file in the recording's own folder$"):
        read_meta(tmp_path / "calls" / "a.wav")


def test_read_meta_of_the_fixture():
    assert read_meta(FIXTURES / "kunde_hochzeit.txt") == CallMeta("K-1001", "Lena Wirtz", "2026-11-02T10:15:00")


# --- customer_from_name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "regex", "expected"),
    [
        ("2026-11-02_K-1001_anruf.wav", r"K-\d+", "K-1001"),
        ("2026-11-02_K-1001_anruf.wav", r"_(K-\d+)_", "K-1001"),
        ("kunde4711.mp3", r"kunde(\d+)", "4711"),
        ("anruf.wav", r"K-\d+", None),
        ("K-7.wav", r"(x)?K-\d+", "K-7"),
        ("wav-K-1.txt", r"K-\d+", "K-1"),
        ("anruf.wav", r"\d*", None),
    ],
)
def test_customer_from_name(name, regex, expected):
    assert customer_from_name(Path("calls") / name, regex) == expected


def test_customer_from_name_only_looks_at_the_stem():
    assert customer_from_name(Path("K-1/anruf.wav"), r"K-\d+") is None


def test_customer_from_name_bad_regex():
    with pytest.raises(InputError, match=r"^bad customer regex '\(K': missing \), unterminated subpattern"):
        customer_from_name(Path("a.wav"), "(K")


# --- discover -------------------------------------------------------------------------------


def test_discover_folder_recursive_sorted_with_kinds(tmp_path):
    for name in ["b.wav", "a.MP3", "sub/c.vtt", "sub/deeper/d.json", "z.txt", "m.srt"]:
        touch(tmp_path / name)
    inputs, skipped = discover([tmp_path])
    assert names(inputs, tmp_path) == ["a.MP3", "b.wav", "m.srt", "sub/c.vtt", "sub/deeper/d.json", "z.txt"]
    assert [item.kind for item in inputs] == ["audio", "audio", "transcript", "transcript", "transcript", "transcript"]
    assert skipped == []
    assert all(isinstance(item, InputFile) and item.meta == CallMeta() for item in inputs)


@pytest.mark.parametrize("suffix", sorted(AUDIO_SUFFIXES))
def test_discover_every_audio_suffix(tmp_path, suffix):
    inputs, _ = discover([touch(tmp_path / f"call{suffix}")])
    assert [item.kind for item in inputs] == ["audio"]


def test_discover_skips_hidden_sidecars_and_done_folders_silently(tmp_path):
    ignored = [".hidden.wav", ".cache/x.wav", "other.meta.json", "processed/old.wav", "failed/b.wav"]
    for name in [*ignored, "sub/processed/o.wav"]:
        touch(tmp_path / name)
    touch(tmp_path / "a.wav")
    inputs, skipped = discover([tmp_path])
    assert names(inputs, tmp_path) == ["a.wav"]
    assert skipped == []


def test_discover_reports_unsupported_files(tmp_path):
    docx, readme = touch(tmp_path / "notes.docx"), touch(tmp_path / "README")
    inputs, skipped = discover([tmp_path])
    assert inputs == []
    assert skipped == [(readme, "unsupported file type (no extension)"), (docx, "unsupported file type '.docx'")]


def test_discover_explicit_files_and_missing_paths(tmp_path):
    wav = touch(tmp_path / "a.wav")
    meta = sidecar(tmp_path, "a.meta.json", {"customer_id": "K-1"})
    missing = tmp_path / "gone.wav"
    inputs, skipped = discover([wav, missing, meta])
    assert [(item.path, item.kind, item.meta.customer_id) for item in inputs] == [(wav, "audio", "K-1")]
    assert skipped == [(missing, "not found"), (meta, "metadata sidecar, not a call")]


def test_discover_given_processed_folder_itself_is_read(tmp_path):
    touch(tmp_path / "processed" / "a.wav")
    inputs, _ = discover([tmp_path / "processed"])
    assert names(inputs, tmp_path) == ["processed/a.wav"]


def test_discover_keeps_order_of_arguments_and_drops_duplicates(tmp_path):
    first, second = touch(tmp_path / "x" / "b.txt"), touch(tmp_path / "y" / "a.txt")
    inputs, _ = discover([tmp_path / "x", tmp_path / "y", first, tmp_path / "x" / ".." / "x" / "b.txt"])
    assert [item.path for item in inputs] == [first, second]


def test_discover_attaches_sidecars_and_reports_broken_ones(tmp_path):
    good, bad = touch(tmp_path / "good.wav"), touch(tmp_path / "bad.wav")
    sidecar(tmp_path, "good.meta.json", {"customer_id": "K-1", "account_manager": "Lena"})
    sidecar(tmp_path, "bad.meta.json", "{oops")
    inputs, skipped = discover([tmp_path])
    assert [(item.path, item.meta) for item in inputs] == [(good, CallMeta("K-1", "Lena"))]
    assert skipped == [(bad, "bad.meta.json: line 1: invalid JSON (Expecting property name enclosed in double quotes)")]


def test_discover_json_transcript_vs_sidecar(tmp_path):
    transcript = touch(tmp_path / "call.json", b'{"segments": []}')
    sidecar(tmp_path, "call.meta.json", {"customer_id": "K-5"})
    inputs, skipped = discover([tmp_path])
    assert [(item.path, item.kind, item.meta.customer_id) for item in inputs] == [(transcript, "transcript", "K-5")]
    assert skipped == []


def test_discover_the_fixtures():
    inputs, skipped = discover([FIXTURES])
    assert [(item.path.name, item.kind) for item in inputs] == [
        ("azure_de_testing.wav", "audio"),
        ("kunde_hochzeit.txt", "transcript"),
        ("meeting_laptop.vtt", "transcript"),
        ("quilter_en.wav", "audio"),
        ("stereo_umzug.wav", "audio"),
    ]
    assert inputs[1].meta.customer_id == "K-1001"
    assert sorted(path.name for path, _ in skipped) == [
        "LICENSE-azure-customspeech.md",
        "LICENSE-picovoice-leopard",
        "README.md",
    ]


def test_an_oversized_sidecar_is_one_line_error_without_reading_it_whole(tmp_path):
    from callscout.inputs.discovery import MAX_SIDECAR_BYTES

    (tmp_path / "call.txt").write_text("Kunde: Hallo.\n", encoding="utf-8")
    padding = " " * (MAX_SIDECAR_BYTES + 10)
    (tmp_path / "call.meta.json").write_text('{"customer_id": "K-1"' + padding + "}", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_meta(tmp_path / "call.txt")
    assert str(info.value) == "call.meta.json: sidecar larger than 64 KiB; it holds three short fields"
    (tmp_path / "call.meta.json").write_text('{"customer_id": "K-1"' + " " * 1000 + "}", encoding="utf-8")
    assert read_meta(tmp_path / "call.txt").customer_id == "K-1"
