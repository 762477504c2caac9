"""Replace personal identifiers in transcript text with typed placeholders.

Each detector finds candidate spans with a loose pattern and keeps only those that pass
a check (IBAN mod-97, Luhn, the Steuer-ID check digit, phone number shape), so dates,
amounts, years and times stay readable. Digits spoken as words ("null eins sieben ...")
are caught too. Detectors run in order; placeholders contain no digits, so a later
detector never re-reads an earlier one's output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from callscout.records import CallResult

IBAN, CARD, EMAIL, PHONE, TAX_ID, NUMBER = "[IBAN]", "[CARD]", "[EMAIL]", "[PHONE]", "[TAX_ID]", "[NUMBER]"

Span = tuple[int, int, str]  # start, end, placeholder

IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}

DIGIT_WORDS = {
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5",
    "fuenf": "5", "sechs": "6", "sieben": "7", "acht": "8", "neun": "9",
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
DOUBLING_WORDS = ("doppel", "double")
MIN_SPOKEN_DIGITS = 7

_SEP = r"(?:[ \t]?[/\-][ \t]?|[ \t])"
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_SPOKEN_JOINER = r"(?:punkt|dot|unterstrich|underscore|minus|bindestrich)"
_SPOKEN_EMAIL_RE = re.compile(
    rf"(?<![\w-])[\w-]+(?:\s+{_SPOKEN_JOINER}\s+[\w-]+){{0,4}}\s+(?:at|ät|@)\s+[\w-]+"
    r"(?:\s+(?:punkt|dot)\s+[\w-]+){0,3}\s+(?:punkt|dot)\s+(?:de|com|net|org|eu|info|at|ch|io|co|uk)(?![\w-])",
    re.IGNORECASE,
)
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2} ?\d{2}(?: ?[A-Z0-9]){11,31}")
_CARD_RE = re.compile(r"(?<![\d+])\d(?:[ \-]?\d){12,18}(?!\d)")
_TAX_ID_RE = re.compile(r"(?<![\w+,.:/-])(?:[1-9]\d \d{3} \d{3} \d{3}|[1-9]\d{10})(?![\w,:/-]|\.\d| \d)")
_PHONE_GROUP = r"(?:\(\d{1,5}\)[ \t]?)?\d++"
_PHONE_END = r"(?!\w|[,.]\d)"
_INTERNATIONAL_PHONE_RE = re.compile(
    rf"(?<![\w+])(?<!\d[ /-])(?:\+|00)[1-9]\d*+(?:{_SEP}{_PHONE_GROUP})*+{_PHONE_END}"
)
_NATIONAL_PHONE_RE = re.compile(
    rf"(?<![\w+/.,-])(?<!\d[ /-])(?:\(0[1-9]\d{{1,4}}\)|0[1-9]\d*+)(?:{_SEP}\d++)*+{_PHONE_END}"
)
_DIGIT_WORD = "|".join(sorted(DIGIT_WORDS, key=len, reverse=True))
_SPOKEN_TOKEN = rf"(?:(?:{'|'.join(DOUBLING_WORDS)})[\s-]+)?(?:{_DIGIT_WORD})"
_SPOKEN_SEP = r"(?:\s*[,;:./-]\s*|\s+)"
_SPOKEN_DIGITS_RE = re.compile(
    rf"(?<!\w)(?:plus{_SPOKEN_SEP})?{_SPOKEN_TOKEN}(?:{_SPOKEN_SEP}{_SPOKEN_TOKEN})+(?!\w)", re.IGNORECASE
)
_SPOKEN_TOKEN_RE = re.compile(rf"(?:({'|'.join(DOUBLING_WORDS)})[\s-]+)?({_DIGIT_WORD})", re.IGNORECASE)


# checks


def iban_is_valid(candidate: str) -> bool:
    iban = re.sub(r"\s", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_is_valid(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and _has_card_prefix(digits) and luhn_is_valid(digits)


def _has_card_prefix(digits: str) -> bool:
    """Visa, Mastercard, Amex, Diners, JCB, Discover, Maestro: keeps year lists like 2024 2025 ... out."""
    return digits[0] in "456" or digits[:2] in {"30", "34", "35", "36", "37", "38", "39"} or (
        2221 <= int(digits[:4]) <= 2720
    )


def tax_id_is_valid(candidate: str) -> bool:
    """German Steuer-ID: 11 digits, one digit repeated in the first ten, ISO 7064 MOD 11,10 check digit."""
    digits = re.sub(r"\D", "", candidate)
    if len(digits) != 11 or digits[0] == "0":
        return False
    return _tax_id_digits_are_well_formed(digits[:10]) and tax_id_check_digit(digits[:10]) == int(digits[10])


def _tax_id_digits_are_well_formed(first_ten: str) -> bool:
    repeated = [(digit, count) for digit, count in Counter(first_ten).items() if count > 1]
    if len(repeated) != 1 or repeated[0][1] > 3:
        return False
    return repeated[0][0] * 3 not in first_ten


def tax_id_check_digit(first_ten: str) -> int:
    product = 10
    for char in first_ten:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return 0 if check == 10 else check


# detectors


@dataclass(frozen=True)
class Detector:
    name: str
    find: Callable[[str], Iterator[Span]]


def _longest_valid_prefix(match: re.Match, is_valid: Callable[[str], bool]) -> tuple[int, int] | None:
    """The longest stretch from the match start, ending before a space or dash, that passes ``is_valid``."""
    text = match.group()
    ends = [len(text)] + [i for i in range(len(text) - 1, 0, -1) if text[i] in " -" and text[i - 1] not in " -"]
    for end in ends:
        if is_valid(text[:end]):
            return match.start(), match.start() + end
    return None


def _checked(pattern: re.Pattern, is_valid: Callable[[str], bool], placeholder: str) -> Callable[[str], Iterator[Span]]:
    def find(text: str) -> Iterator[Span]:
        for match in pattern.finditer(text):
            found = _longest_valid_prefix(match, is_valid)
            if found:
                yield (*found, placeholder)

    return find


def _find_emails(text: str) -> Iterator[Span]:
    for pattern in (_EMAIL_RE, _SPOKEN_EMAIL_RE):
        for match in pattern.finditer(text):
            yield match.start(), match.end(), EMAIL


def _find_phones(text: str) -> Iterator[Span]:
    for match in _INTERNATIONAL_PHONE_RE.finditer(text):
        span = _phone_span(match, international=True)
        if span:
            yield (*span, PHONE)
    for match in _NATIONAL_PHONE_RE.finditer(text):
        span = _phone_span(match, international=False)
        if span:
            yield (*span, PHONE)


def _phone_span(match: re.Match, *, international: bool) -> tuple[int, int] | None:
    groups = _drop_trailing_small_groups(re.findall(r"\d+", match.group()))
    text = match.group()
    end = match.start() + _end_of_group(text, len(groups))
    digits = "".join(groups)
    if international:
        digits = digits[2:] if text.startswith("00") else digits
        return (match.start(), end) if 8 <= len(digits) <= 15 else None
    area_code = groups[0]
    return (match.start(), end) if len(area_code) >= 3 and 7 <= len(digits) <= 13 else None


def _drop_trailing_small_groups(groups: list[str]) -> list[str]:
    """'0171 1234567 15 Jahre': a 1-2 digit group after a long one is not part of the number."""
    while len(groups) > 2 and len(groups[-1]) <= 2 and len(groups[-2]) >= 5:
        groups = groups[:-1]
    return groups


def _end_of_group(text: str, count: int) -> int:
    return list(re.finditer(r"\d+\)?", text))[count - 1].end()


def _find_spoken_digits(text: str) -> Iterator[Span]:
    for match in _SPOKEN_DIGITS_RE.finditer(text):
        digits = spoken_digits(match.group())
        if len(digits.lstrip("+")) >= MIN_SPOKEN_DIGITS:
            yield match.start(), match.end(), _spoken_placeholder(digits)


def spoken_digits(words: str) -> str:
    """'plus vier neun doppel eins' -> '+4911'."""
    prefix = "+" if words.lower().startswith("plus") else ""
    digits = [
        DIGIT_WORDS[word.lower()] * (2 if doubling else 1)
        for doubling, word in _SPOKEN_TOKEN_RE.findall(words)
    ]
    return prefix + "".join(digits)


def _spoken_placeholder(digits: str) -> str:
    if digits.startswith(("+", "0")):
        return PHONE
    return CARD if card_is_valid(digits) else NUMBER


DETECTORS = (
    Detector("email", _find_emails),
    Detector("iban", _checked(_IBAN_RE, iban_is_valid, IBAN)),
    Detector("card", _checked(_CARD_RE, card_is_valid, CARD)),
    Detector("tax_id", _checked(_TAX_ID_RE, tax_id_is_valid, TAX_ID)),
    Detector("phone", _find_phones),
    Detector("spoken_digits", _find_spoken_digits),
)


# applying


def redact_text(text: str) -> str:
    for detector in DETECTORS:
        text = _replace_spans(text, detector.find(text))
    return text


def _replace_spans(text: str, spans: Iterator[Span]) -> str:
    kept: list[Span] = []
    for span in sorted(spans):
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    for start, end, placeholder in reversed(kept):
        text = text[:start] + placeholder + text[end:]
    return text


def redact_result(result: CallResult) -> CallResult:
    """A copy with segment text, signal evidence and opportunity evidence and pitch redacted."""
    transcript = replace(
        result.transcript,
        segments=[replace(segment, text=redact_text(segment.text)) for segment in result.transcript.segments],
    )
    return replace(
        result,
        transcript=transcript,
        signals=[replace(signal, evidence=redact_text(signal.evidence)) for signal in result.signals],
        opportunities=[
            replace(opportunity, evidence=redact_text(opportunity.evidence), pitch=redact_text(opportunity.pitch))
            for opportunity in result.opportunities
        ],
    )
