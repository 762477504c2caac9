import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callscout.inputs.transcripts import (
    TRANSCRIPT_SUFFIXES,
    TranscriptError,
    parse_json,
    parse_srt,
    parse_transcript,
    parse_txt,
    parse_vtt,
)
from callscout.records import Segment, Transcript

TEXT_PARSERS = [parse_txt, parse_vtt, parse_srt, parse_json]


def problem(parser, text):
    with pytest.raises(TranscriptError) as caught:
        parser(text)
    return str(caught.value)


def spoken(transcript):
    return [(s.speaker, s.label, s.text, s.start, s.end) for s in transcript.segments]


def test_suffixes():
    assert TRANSCRIPT_SUFFIXES == {".txt", ".vtt", ".srt", ".json"}


def test_error_is_a_value_error():
    assert issubclass(TranscriptError, ValueError)


# --- txt ------------------------------------------------------------------------------------


def test_txt_labels_and_roles():
    transcript = parse_txt("Berater: Guten Tag.\nKunde: Hallo!\nAnna: Moin\n")
    assert spoken(transcript) == [
        ("agent", "Berater", "Guten Tag.", None, None),
        ("customer", "Kunde", "Hallo!", None, None),
        ("unknown", "Anna", "Moin", None, None),
    ]
    assert transcript.language is None
    assert transcript.duration_s is None


def test_txt_continuation_lines_and_blank_lines():
    text = "Kunde: Wir haben\n  letzten Monat geheiratet.\n\n\nBerater: Glückwunsch!\n"
    assert [s.text for s in parse_txt(text).segments] == ["Wir haben letzten Monat geheiratet.", "Glückwunsch!"]


def test_txt_label_with_details_keeps_original_label():
    segment = parse_txt("Kunde (Herr Maier): Ja.").segments[0]
    assert (segment.speaker, segment.label) == ("customer", "Kunde (Herr Maier)")


def test_txt_label_alone_on_its_line():
    assert spoken(parse_txt("Kunde:\nIch ziehe um.")) == [("customer", "Kunde", "Ich ziehe um.", None, None)]


@pytest.mark.parametrize(
    ("line", "start"),
    [
        ("[00:01:02] Kunde: Ja", 62.0),
        ("00:01:02 Kunde: Ja", 62.0),
        ("[01:02] Kunde: Ja", 62.0),
        ("[00:00:01.5] Kunde: Ja", 1.5),
        ("[1:00:00] Kunde: Ja", 3600.0),
    ],
)
def test_txt_timestamp_prefix(line, start):
    segment = parse_txt(line).segments[0]
    assert (segment.start, segment.end, segment.label, segment.text) == (start, None, "Kunde", "Ja")


def test_txt_continuation_with_leading_time_of_day_stays_text():
    text = "Kunde: Passt es\n10:30 Uhr morgen?"
    assert parse_txt(text).segments[0].text == "Passt es 10:30 Uhr morgen?"


def test_txt_colon_without_space_is_not_a_label():
    text = "Kunde: Die Seite ist https://example.org\nhttps://example.org/x steht da"
    assert len(parse_txt(text).segments) == 1


def test_txt_long_sentence_with_colon_is_continuation():
    text = "Kunde: Ich sage mal so, die Frage war: wirklich?"
    assert parse_txt(text).segments[0].text == "Ich sage mal so, die Frage war: wirklich?"


def test_txt_crlf_and_bom():
    transcript = parse_txt("\ufeffBerater: A\r\nKunde: B\r\n")
    assert [s.label for s in transcript.segments] == ["Berater", "Kunde"]


def test_txt_roles_override():
    assert parse_txt("SPEAKER_00: Hallo", {"speaker_00": "agent"}).segments[0].speaker == "agent"


def test_txt_empty_turns_are_dropped():
    assert [s.label for s in parse_txt("Berater:\nKunde: Ja").segments] == ["Kunde"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("  \n\t\n", "empty file"),
        ("Kunde: a\x00b", "binary data (NUL bytes), not a text transcript"),
        ("Hallo zusammen\nKunde: Ja", "line 1: text before the first 'Speaker:' label 'Hallo zusammen'"),
        ("\n\n[00:0x] Kunde: Ja", "line 3: bad timestamp '00:0x'"),
        ("[00:61] Kunde: Ja", "line 1: bad timestamp '00:61'"),
        ("Berater:\nKunde:", "no speech text found"),
        ("Kunde: <b></b>", "no speech text found"),
    ],
)
def test_txt_errors(text, message):
    assert problem(parse_txt, text) == message


def test_txt_long_offending_line_is_shortened():
    message = problem(parse_txt, "x" * 200)
    assert message == f"line 1: text before the first 'Speaker:' label '{'x' * 40}…'"


# --- vtt ------------------------------------------------------------------------------------

TEAMS_VTT = """WEBVTT

NOTE Exported by Teams
spanning two lines

STYLE
::cue { color: white }

3f1c-1
00:00:01.000 --> 00:00:04.500
<v Anna Berger>Guten Tag, was kann ich tun?</v>

3f1c-2
00:00:05.000 --> 00:00:07.250 align:start position:10%
<v.loud Kunde>Ich habe <i>geheiratet</i> &amp; ziehe um.</v>
"""


def test_vtt_teams_voice_tags():
    transcript = parse_vtt(TEAMS_VTT, {"anna berger": "agent"})
    assert spoken(transcript) == [
        ("agent", "Anna Berger", "Guten Tag, was kann ich tun?", 1.0, 4.5),
        ("customer", "Kunde", "Ich habe geheiratet & ziehe um.", 5.0, 7.25),
    ]
    assert transcript.duration_s == 7.25
    assert transcript.language is None


def test_vtt_zoom_name_prefix_without_cue_ids_and_hours():
    text = (
        "WEBVTT\n\n00:01.000 --> 00:02.000\nAgent: Hi\n\n"
        "01:02.000 --> 01:03.500\nCustomer: I am moving\nnext month\n"
    )
    assert spoken(parse_vtt(text)) == [
        ("agent", "Agent", "Hi", 1.0, 2.0),
        ("customer", "Customer", "I am moving next month", 62.0, 63.5),
    ]


def test_vtt_cue_without_speaker_is_unknown():
    segment = parse_vtt("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhello there").segments[0]
    assert (segment.speaker, segment.label, segment.text) == ("unknown", "", "hello there")


def test_vtt_two_voices_in_one_cue():
    text = "WEBVTT\n\n00:00.000 --> 00:02.000\n<v Agent>Yes?</v> <v Customer>No.</v>"
    assert [(s.label, s.text) for s in parse_vtt(text).segments] == [("Agent", "Yes?"), ("Customer", "No.")]


def test_vtt_header_metadata_and_inline_timestamps():
    text = (
        "WEBVTT - Zoom export\nKind: captions\nLanguage: de\n\n"
        "00:00:01.000 --> 00:00:03.000\n<v Kunde>Wir <00:00:02.000><c>ziehen</c> um</v>"
    )
    assert parse_vtt(text).segments[0].text == "Wir ziehen um"


def test_vtt_cue_directly_below_header():
    text = "WEBVTT\n00:00:01.000 --> 00:00:02.000\nKunde: Ja"
    assert spoken(parse_vtt(text)) == [("customer", "Kunde", "Ja", 1.0, 2.0)]


def test_vtt_empty_cues_are_skipped():
    text = "WEBVTT\n\n00:00.000 --> 00:01.000\n\n00:01.000 --> 00:02.000\nKunde: Ja"
    assert [s.text for s in parse_vtt(text).segments] == ["Ja"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("WEBVTT\x00", "binary data (NUL bytes), not a text transcript"),
        ("1\n00:00:01,000 --> 00:00:02,000\nKunde: Ja", "line 1: missing 'WEBVTT' header, got '1'"),
        ("WEBVTTX\n\n00:00.000 --> 00:01.000\nJa", "line 1: missing 'WEBVTT' header, got 'WEBVTTX'"),
        ("WEBVTT\n\n1\n2\n00:00.000 --> 00:01.000\nJa", "line 4: expected a cue timing 'start --> end', got '2'"),
        ("WEBVTT\n\nJust some text", "line 3: expected a cue timing 'start --> end', got 'Just some text'"),
        ("WEBVTT\n\n\n\n\n\n00:0x --> 00:01.000\nJa", "line 7: bad timestamp '00:0x'"),
        (
            "WEBVTT\n\nc1\n00:00.000 -> 00:01.000\nJa",
            "line 4: expected a cue timing 'start --> end', got '00:00.000 -> 00:01.000'",
        ),
        ("WEBVTT\n\n00:00.000 --> \nJa", "line 3: bad cue timing '00:00.000 -->'"),
        ("WEBVTT\n\n00:05.000 --> 00:01.000\nJa", "line 3: cue ends before it starts '00:05.000 --> 00:01.000'"),
        ("WEBVTT\n\n00:00.000 --> 00:01.000\n<v Agent></v>", "no speech text found"),
        ("WEBVTT\n\nNOTE only a note", "no speech text found"),
    ],
)
def test_vtt_errors(text, message):
    assert problem(parse_vtt, text) == message


# --- srt ------------------------------------------------------------------------------------

SRT = """1
00:00:01,000 --> 00:00:02,500
Berater: Guten Tag.

2
00:00:03,000 --> 00:00:06,000
Kunde: Wir haben
<i>geheiratet</i>.

3
00:00:06,500 --> 00:00:07,000
Mhm.
"""


def test_srt_blocks():
    transcript = parse_srt(SRT)
    assert spoken(transcript) == [
        ("agent", "Berater", "Guten Tag.", 1.0, 2.5),
        ("customer", "Kunde", "Wir haben geheiratet.", 3.0, 6.0),
        ("unknown", "", "Mhm.", 6.5, 7.0),
    ]
    assert transcript.duration_s == 7.0


def test_srt_accepts_dots_missing_numbers_and_windows_newlines():
    text = "00:00:01.000 --> 00:00:02.000\r\nKunde: A\r\n\r\n7\r\n01:00:00,000 --> 01:00:01,000\r\nKunde: B\r\n"
    assert [(s.start, s.text) for s in parse_srt(text).segments] == [(1.0, "A"), (3600.0, "B")]


def test_srt_number_without_text_is_skipped():
    text = "1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:03,000 --> 00:00:04,000\nKunde: Ja"
    assert [s.text for s in parse_srt(text).segments] == ["Ja"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("1\n00:00:01,000 --> 00:00:02,000\n\x00", "binary data (NUL bytes), not a text transcript"),
        ("WEBVTT\n\n00:00.000 --> 00:01.000\nJa", "line 1: expected a subtitle number, got 'WEBVTT'"),
        ("1\n00:00:01,000 --> 00:00:02,000\nA\n\nstray text", "line 5: expected a subtitle number, got 'stray text'"),
        ("1\nKunde: Ja", "line 2: expected a timing line 'start --> end', got 'Kunde: Ja'"),
        ("1", "line 1: expected a timing line 'start --> end', got '1'"),
        ("1\n00:00:01,000 --> 00:0x:02,000\nJa", "line 2: bad timestamp '00:0x:02,000'"),
        ("1\n00:00:01,000 --> 00:00:60,000\nJa", "line 2: bad timestamp '00:00:60,000'"),
        ("1\n00:00:09,000 --> 00:00:02,000\nJa", "line 2: cue ends before it starts '00:00:09,000 --> 00:00:02,000'"),
        ("1\n00:00:01,000 --> 00:00:02,000\n<i> </i>", "no speech text found"),
    ],
)
def test_srt_errors(text, message):
    assert problem(parse_srt, text) == message


# --- json -----------------------------------------------------------------------------------


def test_json_full():
    text = json.dumps(
        {
            "language": "de",
            "segments": [
                {"speaker": "Kunde", "start": 0.0, "end": 2.5, "text": "Wir ziehen um."},
                {"text": "  Ohne   Sprecher "},
                {"speaker": "Beraterin", "start": 3, "end": 4, "text": "Schön."},
            ],
        }
    )
    transcript = parse_json(text)
    assert spoken(transcript) == [
        ("customer", "Kunde", "Wir ziehen um.", 0.0, 2.5),
        ("unknown", "", "Ohne Sprecher", None, None),
        ("agent", "Beraterin", "Schön.", 3.0, 4.0),
    ]
    assert transcript.language == "de"
    assert transcript.duration_s == 4.0


def test_json_without_language_or_times():
    transcript = parse_json('{"segments": [{"speaker": null, "text": "hi"}], "language": null}')
    assert (transcript.language, transcript.duration_s) == (None, None)


def test_json_skips_empty_texts():
    assert [s.text for s in parse_json('{"segments": [{"text": ""}, {"text": "ja"}]}').segments] == ["ja"]


def test_json_roles_override():
    text = '{"segments": [{"speaker": "SPEAKER_01", "text": "ja"}]}'
    assert parse_json(text, {"SPEAKER_01": "customer"}).segments[0].speaker == "customer"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ('{"segments": []}\x00', "binary data (NUL bytes), not a text transcript"),
        ('{"segments": [\n  {"text": "a"},\n  oops\n]}', "line 3: invalid JSON (Expecting value)"),
        ("[1, 2]", "expected an object with a 'segments' list"),
        ('{"segments": {"text": "a"}}', "expected an object with a 'segments' list"),
        ('{"segments": []}', "no speech text found"),
        ('{"segments": [{"text": "  "}]}', "no speech text found"),
        ('{"language": 7, "segments": [{"text": "a"}]}', "top level: 'language' must be a string"),
        ('{"segments": ["a"]}', "segments[0]: expected an object"),
        ('{"segments": [{"text": "a"}, {"speaker": "Kunde"}]}', "segments[1]: missing 'text'"),
        ('{"segments": [{"text": 5}]}', "segments[0]: 'text' must be a string"),
        ('{"segments": [{"text": "a", "speaker": 1}]}', "segments[0]: 'speaker' must be a string"),
        ('{"segments": [{"text": "a", "start": "1.0"}]}', "segments[0]: 'start' must be a number of seconds, got str"),
        ('{"segments": [{"text": "a", "end": true}]}', "segments[0]: 'end' must be a number of seconds, got bool"),
        ('{"segments": [{"text": "a", "start": -1}]}', "segments[0]: 'start' must be a finite, non-negative number"),
        ('{"segments": [{"text": "a", "end": NaN}]}', "segments[0]: 'end' must be a finite, non-negative number"),
        ('{"segments": [{"text": "a", "end": 1e999}]}', "segments[0]: 'end' must be a finite, non-negative number"),
        ('{"segments": [{"text": "a", "start": 2, "end": 1}]}', "segments[0]: 'end' is before 'start'"),
    ],
)
def test_json_errors(text, message):
    assert problem(parse_json, text) == message


def test_json_huge_integer_is_an_error():
    assert problem(parse_json, '{"segments": [{"text": "a", "end": 1' + "0" * 400 + "}]}") == (
        "segments[0]: 'end' must be a finite, non-negative number"
    )


def test_json_deep_nesting_is_an_error():
    assert problem(parse_json, "[" * 100_000 + "]" * 100_000).startswith("invalid JSON")


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("call.txt", "Kunde: Ja"),
        ("call.TXT", "Kunde: Ja"),
        ("call.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nKunde: Ja"),
        ("call.srt", "1\n00:00:00,000 --> 00:00:01,000\nKunde: Ja"),
        ("call.json", '{"segments": [{"speaker": "Kunde", "text": "Ja"}]}'),
    ],
)
def test_parse_transcript_dispatches_on_suffix(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert [(s.speaker, s.text) for s in parse_transcript(path).segments] == [("customer", "Ja")]


def test_parse_transcript_accepts_bom_and_passes_roles(tmp_path):
    path = tmp_path / "call.txt"
    path.write_bytes("\ufeffAnna: Grüß Gott".encode())
    segment = parse_transcript(path, {"anna": "agent"}).segments[0]
    assert (segment.speaker, segment.text) == ("agent", "Grüß Gott")


def file_problem(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(TranscriptError) as caught:
        parse_transcript(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("call.txt", b"", "call.txt: empty file"),
        ("call.txt", b"\n \n", "call.txt: empty file"),
        ("call.txt", b"Kunde: gr\xfc\xdf", "call.txt: not valid UTF-8 (byte 9)"),
        ("call.vtt", b"WEBVTT\x00\x01\x02", "call.vtt: binary data (NUL bytes), not a text transcript"),
        ("call.txt", "Kunde: Ja".encode("utf-16"), "call.txt: UTF-16 text; save it as UTF-8"),
        ("call.vtt", b"WEBVTT\n\n\n\n\n\n00:0x --> 00:01.000\nJa", "call.vtt: line 7: bad timestamp '00:0x'"),
        ("call.json", b'{"segments": []}', "call.json: no speech text found"),
        ("call.docx", b"PK\x03\x04", "call.docx: unsupported transcript type '.docx'"),
        ("call", b"Kunde: Ja", "call: unsupported transcript type ''"),
    ],
)
def test_parse_transcript_errors_name_the_file(tmp_path, name, data, message):
    assert file_problem(tmp_path, name, data) == message


def test_parse_transcript_missing_file(tmp_path):
    with pytest.raises(TranscriptError, match=r"^gone\.txt: cannot read file \(No such file or directory\)$"):
        parse_transcript(tmp_path / "gone.txt")


def test_parse_transcript_on_a_folder(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(TranscriptError, match=r"^folder\.txt: cannot read file"):
        parse_transcript(tmp_path / "folder.txt")


# --- properties -----------------------------------------------------------------------------

FAST = settings(max_examples=200, deadline=None)

format_like_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("WEBVT0123456789:.,->< \n\r\tvKunde\x00[]{}\"'&;/")), max_size=200),
    st.builds(lambda body: "WEBVTT\n\n" + body, st.text(alphabet="0123456789:.,-> \nvKunde<>/", max_size=120)),
    st.builds(lambda body: "1\n00:00:01,000 --> " + body, st.text(alphabet="0123456789:,-> \nKunde", max_size=80)),
    st.builds(json.dumps, st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
            st.sampled_from(["segments", "text", "speaker", "start", "end", "language"]), inner, max_size=4),
        max_leaves=12,
    )),
)  # fmt: skip


def assert_one_line_error(error):
    message = str(error)
    assert message and message.splitlines() == [message]


def assert_clean(transcript):
    assert isinstance(transcript, Transcript) and transcript.segments
    for segment in transcript.segments:
        assert isinstance(segment, Segment)
        assert segment.speaker in ("agent", "customer", "unknown")
        assert segment.text and segment.text == " ".join(segment.text.split())


@FAST
@given(st.sampled_from(TEXT_PARSERS), format_like_text)
def test_any_text_gives_transcript_or_one_line_error(parser, text):
    try:
        transcript = parser(text)
    except TranscriptError as error:
        assert_one_line_error(error)
    else:
        assert_clean(transcript)


@FAST
@given(st.binary(max_size=300), st.sampled_from(sorted(TRANSCRIPT_SUFFIXES)))
def test_any_bytes_in_a_file_give_transcript_or_one_line_error(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("prop") / f"x{suffix}"
    path.write_bytes(data)
    try:
        transcript = parse_transcript(path)
    except TranscriptError as error:
        assert_one_line_error(error)
        assert str(error).startswith(f"x{suffix}: ")
    else:
        assert_clean(transcript)


words = st.text(alphabet=string.ascii_letters + "äöüßÄÖÜ.,!?", min_size=1, max_size=12)
sentences = st.lists(words, min_size=1, max_size=6).map(" ".join)
labels = st.sampled_from(["Kunde", "Berater", "Agent", "Customer", "Anna Berger", "SPEAKER_00", "Kundin (Frau Uhl)"])
turns = st.lists(st.tuples(labels, sentences), min_size=1, max_size=8)


def clock(seconds, separator="."):
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}{separator}000"


def render(kind, generated):
    if kind == "txt":
        return "\n".join(f"[{clock(i)[:8]}] {label}: {text}" for i, (label, text) in enumerate(generated))
    if kind == "vtt":
        cues = [f"{clock(i)} --> {clock(i + 1)}\n<v {label}>{text}</v>" for i, (label, text) in enumerate(generated)]
        return "WEBVTT\n\n" + "\n\n".join(cues)
    if kind == "srt":
        cues = [
            f"{i + 1}\n{clock(i, ',')} --> {clock(i + 1, ',')}\n{label}: {text}"
            for i, (label, text) in enumerate(generated)
        ]
        return "\n\n".join(cues)
    segments = [{"speaker": label, "start": i, "end": i + 1, "text": text} for i, (label, text) in enumerate(generated)]
    return json.dumps({"segments": segments})


ROUND_TRIP = {"txt": parse_txt, "vtt": parse_vtt, "srt": parse_srt, "json": parse_json}


@FAST
@given(st.sampled_from(sorted(ROUND_TRIP)), turns)
def test_rendered_transcripts_round_trip(kind, generated):
    transcript = ROUND_TRIP[kind](render(kind, generated))
    assert [(s.label, s.text) for s in transcript.segments] == generated
    assert [s.start for s in transcript.segments] == [float(i) for i in range(len(generated))]
    expected_duration = None if kind == "txt" else float(len(generated))
    assert transcript.duration_s == expected_duration
