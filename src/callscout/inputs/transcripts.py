"""Read existing transcripts (.txt, .vtt, .srt, .json) into a ``Transcript``.

Every problem with a file, whatever it is, surfaces as one ``TranscriptError`` whose message is
a single line naming the file and the problem, e.g. ``call.vtt: line 7: bad timestamp '00:0x'``.
The per-format functions take text so they can be tested without files.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callscout.inputs.speakers import role_for
from callscout.records import Segment, Transcript

TRANSCRIPT_SUFFIXES = {".txt", ".vtt", ".srt", ".json"}

_SNIPPET_CHARS = 40
_BOM = "\ufeff"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LABEL = re.compile(r"(?P<label>[^\W\d_][\w .'()&/-]{0,39}?)\s*:(?:\s+(?P<text>.*))?", re.DOTALL)
_MAX_LABEL_WORDS = 4
_CLOCK = re.compile(r"(?:(?P<h>\d{1,3}):)?(?P<m>\d{1,2}):(?P<s>\d{2})(?:[.,](?P<frac>\d{1,3}))?")
_TIMING = re.compile(r"(?P<start>\S+)\s+-->\s+(?P<end>\S+)(?:\s.*)?")
_TXT_BRACKETED_TIME = re.compile(r"\[(?P<clock>[^\]]*)\]\s*")
_TXT_BARE_TIME = re.compile(r"(?P<clock>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)\s+")
_VTT_HEADER = re.compile(r"WEBVTT(?:[ \t].*)?")
_VTT_META_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t].*)?")
_VOICE_TAG = re.compile(r"<v(?:\.[^\s>]*)?(?:[ \t]+(?P<name>[^>]*))?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


class TranscriptError(ValueError):
    """A transcript that cannot be read. The message is one line: file, line, problem.

    ``quote`` is the offending text from the file, shown (shortened) after the problem;
    ``safe_message`` leaves it out, since it may be customer speech that must not be
    stored or logged.
    """

    def __init__(
        self, problem: str, *, line: int | None = None, source: str | None = None, quote: str | None = None
    ):
        self.problem = problem
        self.line = line
        self.source = source
        self.quote = quote
        super().__init__(self._message(with_quote=True))

    def _message(self, *, with_quote: bool) -> str:
        parts = [self.source] if self.source else []
        if self.line is not None:
            parts.append(f"line {self.line}")
        problem = self.problem
        if with_quote and self.quote is not None:
            problem = f"{problem} {quoted(self.quote)}"
        elif self.quote is not None:
            problem = re.sub(r",? got$", "", problem)
        parts.append(problem)
        return " ".join(": ".join(parts).split())

    @property
    def safe_message(self) -> str:
        """The message without any text quoted from the file."""
        return self._message(with_quote=False)

    def in_file(self, source: str) -> TranscriptError:
        return TranscriptError(self.problem, line=self.line, source=source, quote=self.quote)


@dataclass
class _Turn:
    """A segment being assembled from one or more lines."""

    label: str
    start: float | None = None
    end: float | None = None
    parts: list[str] = field(default_factory=list)

    def segment(self, roles: dict[str, str] | None) -> Segment:
        return Segment(
            speaker=role_for(self.label, roles), text=clean_text(" ".join(self.parts)),
            start=self.start, end=self.end, label=self.label,
        )  # fmt: skip


def quoted(snippet: str) -> str:
    if len(snippet) > _SNIPPET_CHARS:
        snippet = snippet[:_SNIPPET_CHARS] + "…"
    return repr(snippet)


def clean_text(text: str) -> str:
    """Strip markup tags, resolve entities and collapse whitespace."""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def decode_transcript(data: bytes) -> str:
    if not data.strip():
        raise TranscriptError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TranscriptError("UTF-16 text; save it as UTF-8")
    if b"\x00" in data:
        raise TranscriptError("binary data (NUL bytes), not a text transcript")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TranscriptError(f"not valid UTF-8 (byte {err.start})") from None


def checked_lines(text: str) -> list[str]:
    text = text.removeprefix(_BOM)
    if not text.strip():
        raise TranscriptError("empty file")
    if "\x00" in text:
        raise TranscriptError("binary data (NUL bytes), not a text transcript")
    return _LINE_BREAK.split(text)


def blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the number of its first line (1-based)."""
    found: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                found.append((number, current))
            current.append(line)
        else:
            current = []
    return found


def parse_clock(clock: str, line: int | None = None) -> float:
    match = _CLOCK.fullmatch(clock.strip())
    minutes_limit = 60 if match and match["h"] is not None else 100
    if not match or int(match["s"]) >= 60 or int(match["m"]) >= minutes_limit:
        raise TranscriptError("bad timestamp", line=line, quote=clock)
    fraction = int(match["frac"]) / 10 ** len(match["frac"]) if match["frac"] else 0.0
    return int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + int(match["s"]) + fraction


def parse_timing(line_text: str, line: int) -> tuple[float, float]:
    match = _TIMING.fullmatch(line_text.strip())
    if not match:
        raise TranscriptError("bad cue timing", line=line, quote=line_text.strip())
    start, end = parse_clock(match["start"], line), parse_clock(match["end"], line)
    if end < start:
        raise TranscriptError("cue ends before it starts", line=line, quote=line_text.strip())
    return start, end


def split_label(text: str) -> tuple[str, str] | None:
    """``("Kunde", "Hallo")`` for ``"Kunde: Hallo"``; None when the text has no speaker label."""
    match = _LABEL.fullmatch(text.strip())
    if not match or len(match["label"].split()) > _MAX_LABEL_WORDS:
        return None
    return " ".join(match["label"].split()), match["text"] or ""


def build_transcript(turns: list[_Turn], roles: dict[str, str] | None, language: str | None = None) -> Transcript:
    segments = [turn.segment(roles) for turn in turns]
    segments = [segment for segment in segments if segment.text]
    if not segments:
        raise TranscriptError("no speech text found")
    ends = [segment.end for segment in segments if segment.end is not None]
    return Transcript(segments=segments, language=language, duration_s=max(ends) if ends else None)


# --- .txt ---------------------------------------------------------------------------------


def txt_time_prefix(line: str, number: int) -> tuple[float | None, str, bool]:
    """(start, rest of line, whether the timestamp was bracketed) for an optional time prefix."""
    bracketed = _TXT_BRACKETED_TIME.match(line)
    if bracketed and re.fullmatch(r"\d[\w:.,]*", bracketed["clock"].strip()) and ":" in bracketed["clock"]:
        return parse_clock(bracketed["clock"], number), line[bracketed.end() :], True
    bare = _TXT_BARE_TIME.match(line)
    if bare:
        try:
            return parse_clock(bare["clock"], number), line[bare.end() :], False
        except TranscriptError:
            pass
    return None, line, False


def parse_txt(text: str, roles: dict[str, str] | None = None) -> Transcript:
    """Lines ``Speaker: text``, optionally prefixed by ``[00:01:02]`` or ``00:01:02``."""
    turns: list[_Turn] = []
    for number, line in enumerate(checked_lines(text), 1):
        if not line.strip():
            continue
        start, rest, bracketed = txt_time_prefix(line.strip(), number)
        labelled = split_label(rest)
        if labelled:
            turns.append(_Turn(label=labelled[0], start=start, parts=[labelled[1]]))
        elif not turns:
            raise TranscriptError("text before the first 'Speaker:' label", line=number, quote=line.strip())
        else:
            turns[-1].parts.append(rest if bracketed else line)
    return build_transcript(turns, roles)


# --- .vtt -----------------------------------------------------------------------------------


def vtt_voices(body: str) -> list[tuple[str, str]]:
    """(label, text) pairs of a cue body, from ``<v Name>`` voice tags or a ``Name:`` prefix."""
    pieces = _VOICE_TAG.split(body)
    voiced = [("", pieces[0])] + [(name or "", text) for name, text in zip(pieces[1::2], pieces[2::2])]
    found = []
    for label, text in voiced:
        text = clean_text(text)
        labelled = None if label.strip() else split_label(text)
        found.append(labelled if labelled else (" ".join(label.split()), text))
    return [(label, text) for label, text in found if text]


def cue_turns(first_line: int, block: list[str], expected: str) -> list[_Turn]:
    """Turns of one cue block: optional id line, timing line, text lines."""
    timing_index = 0 if "-->" in block[0] else min(1, len(block) - 1)
    if "-->" not in block[timing_index]:
        got = block[timing_index].strip()
        raise TranscriptError(f"expected {expected}, got", line=first_line + timing_index, quote=got)
    start, end = parse_timing(block[timing_index], first_line + timing_index)
    body = " ".join(block[timing_index + 1 :])
    return [_Turn(label=label, start=start, end=end, parts=[text]) for label, text in vtt_voices(body)]


def parse_vtt(text: str, roles: dict[str, str] | None = None) -> Transcript:
    """WebVTT as Teams and Zoom export it: cues with ``<v Name>`` tags or ``Name: text``."""
    lines = checked_lines(text)
    if not _VTT_HEADER.fullmatch(lines[0].rstrip()):
        raise TranscriptError("missing 'WEBVTT' header, got", line=1, quote=lines[0].strip())
    turns: list[_Turn] = []
    for first_line, block in blocks(lines):
        if first_line == 1:
            block, first_line = header_tail(block)
        if not block or _VTT_META_BLOCK.fullmatch(block[0].strip()):
            continue
        turns.extend(cue_turns(first_line, block, "a cue timing 'start --> end'"))
    return build_transcript(turns, roles)


def header_tail(header: list[str]) -> tuple[list[str], int]:
    """A cue written straight below the header without a blank line, if any."""
    for index, line in enumerate(header):
        if "-->" in line:
            return header[index:], index + 1
    return [], 1


# --- .srt -----------------------------------------------------------------------------------


def parse_srt(text: str, roles: dict[str, str] | None = None) -> Transcript:
    """SubRip: numbered blocks with ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` and text (maybe ``Name: text``)."""
    turns: list[_Turn] = []
    for first_line, block in blocks(checked_lines(text)):
        if "-->" not in block[0] and not block[0].strip().isdecimal():
            raise TranscriptError("expected a subtitle number, got", line=first_line, quote=block[0].strip())
        turns.extend(cue_turns(first_line, block, "a timing line 'start --> end'"))
    return build_transcript(turns, roles)


# --- .json ----------------------------------------------------------------------------------


def load_json(text: str) -> object:
    checked_lines(text)
    try:
        return json.loads(text.removeprefix(_BOM))
    except json.JSONDecodeError as err:
        raise TranscriptError(f"invalid JSON ({err.msg})", line=err.lineno) from None
    except (ValueError, RecursionError) as err:
        raise TranscriptError(f"invalid JSON ({type(err).__name__}: {str(err)[:80]})") from None


def json_seconds(item: dict, key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranscriptError(f"{where}: '{key}' must be a number of seconds, got {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise TranscriptError(f"{where}: '{key}' must be a finite, non-negative number")
    return seconds


def json_string(item: dict, key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise TranscriptError(f"{where}: '{key}' must be a string")
    return value


def json_turn(item: object, index: int) -> _Turn:
    where = f"segments[{index}]"
    if not isinstance(item, dict):
        raise TranscriptError(f"{where}: expected an object")
    if "text" not in item:
        raise TranscriptError(f"{where}: missing 'text'")
    text = json_string(item, "text", where) or ""
    label = " ".join((json_string(item, "speaker", where) or "").split())
    start, end = json_seconds(item, "start", where), json_seconds(item, "end", where)
    if start is not None and end is not None and end < start:
        raise TranscriptError(f"{where}: 'end' is before 'start'")
    return _Turn(label=label, start=start, end=end, parts=[text])


def parse_json(text: str, roles: dict[str, str] | None = None) -> Transcript:
    """``{"language": "de", "segments": [{"speaker", "start", "end", "text"}, ...]}``."""
    data = load_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise TranscriptError("expected an object with a 'segments' list")
    language = (json_string(data, "language", "top level") or "").strip() or None
    turns = [json_turn(item, index) for index, item in enumerate(data["segments"])]
    return build_transcript(turns, roles, language=language)


# --- files ----------------------------------------------------------------------------------

PARSERS: dict[str, Callable[[str, dict[str, str] | None], Transcript]] = {
    ".txt": parse_txt,
    ".vtt": parse_vtt,
    ".srt": parse_srt,
    ".json": parse_json,
}


def parse_transcript(path: Path, roles: dict[str, str] | None = None) -> Transcript:
    """Parse a transcript file by its suffix; ``roles`` maps extra speaker labels to roles."""
    path = Path(path)
    parser = PARSERS.get(path.suffix.lower())
    try:
        if parser is None:
            raise TranscriptError(f"unsupported transcript type {quoted(path.suffix)}")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise TranscriptError(f"cannot read file ({err.strerror or type(err).__name__})") from None
        return parser(decode_transcript(data), roles)
    except TranscriptError as err:
        raise err.in_file(path.name) from None
