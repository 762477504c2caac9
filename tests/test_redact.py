import pytest
from hypothesis import given
from hypothesis import strategies as st

from callscout.records import CallResult, Opportunity, Segment, Signal, Transcript
from callscout.redact.identifiers import (
    card_is_valid,
    iban_is_valid,
    redact_result,
    redact_text,
    spoken_digits,
    tax_id_check_digit,
    tax_id_is_valid,
)


def make_iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(char, 36)) for char in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


def grouped(text: str, size: int = 4) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


# IBAN


@pytest.mark.parametrize(
    "iban",
    ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "AT61 1904 3002 3457 3201",
     "NL91ABNA0417164300", "DE 89 3704 0044 0532 0130 00"],
)
def test_valid_ibans_are_replaced(iban):
    assert iban_is_valid(iban)
    assert redact_text(f"Meine IBAN: {iban}.") == "Meine IBAN: [IBAN]."


@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 01", "DE88370400440532013000", "DE89 3704 0044 0532 0130"])
def test_invalid_ibans_are_left_alone(iban):
    assert not iban_is_valid(iban)
    assert "[IBAN]" not in redact_text(f"IBAN {iban} bitte")


def test_iban_next_to_a_move_keeps_the_sentence():
    text = "Wir ziehen am 1. Juni nach Leipzig, die neue IBAN ist DE89 3704 0044 0532 0130 00 und die Miete 1.250 Euro."
    assert redact_text(text) == (
        "Wir ziehen am 1. Juni nach Leipzig, die neue IBAN ist [IBAN] und die Miete 1.250 Euro."
    )


def test_iban_followed_by_uppercase_words_stops_at_the_iban():
    assert redact_text("IBAN DE89370400440532013000 BIC COBADEFFXXX") == "IBAN [IBAN] BIC COBADEFFXXX"


@given(st.text(alphabet="0123456789", min_size=18, max_size=18))
def test_any_german_iban_is_found(bban):
    iban = make_iban("DE", bban)
    assert redact_text(f"Konto {grouped(iban)} danke") == "Konto [IBAN] danke"
    assert redact_text(f"Konto {iban}, danke") == "Konto [IBAN], danke"


# cards


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005", "6011 1111 1111 1117"],
)
def test_luhn_valid_cards_are_replaced(card):
    assert redact_text(f"Karte {card} bitte") == "Karte [CARD] bitte"


@pytest.mark.parametrize("number", ["4111 1111 1111 1112", "5555555555554445", "2024 2025 2026 2027"])
def test_luhn_invalid_or_unknown_prefixes_are_kept(number):
    assert not card_is_valid(number)
    assert redact_text(f"Nummer {number}") == f"Nummer {number}"


# e-mail


@pytest.mark.parametrize(
    "email", ["max.mustermann@example.de", "j.weiß+crm@bank-hamburg.co.uk", "max punkt mustermann at gmx punkt de",
              "anna at web dot de"]
)
def test_emails_are_replaced(email):
    assert redact_text(f"Schreiben Sie an {email}, danke.") == "Schreiben Sie an [EMAIL], danke."


# phones


@pytest.mark.parametrize(
    "phone",
    ["0171 1234567", "0171-1234567", "01711234567", "030/1234567", "030 / 123 456 78", "(030) 1234567",
     "+49 171 1234567", "+49 (0)30 1234567", "+49-171-1234567", "0049 171 1234567", "+44 20 7946 0958",
     "0800 123 4567"],
)
def test_phone_numbers_are_replaced(phone):
    assert redact_text(f"Erreichbar unter {phone}, ab 18 Uhr.") == "Erreichbar unter [PHONE], ab 18 Uhr."


def test_phone_does_not_swallow_a_following_count():
    assert redact_text("Handy 0171 1234567 15 Jahre Kunde") == "Handy [PHONE] 15 Jahre Kunde"


# Steuer-ID


def test_tax_id_check_digit_matches_published_example():
    assert tax_id_check_digit("8609574271") == 9


@pytest.mark.parametrize("tax_id", ["86095742719", "86 095 742 719", "65929970489"])
def test_valid_tax_ids_are_replaced(tax_id):
    assert tax_id_is_valid(tax_id)
    assert redact_text(f"Steuer-ID {tax_id}.") == "Steuer-ID [TAX_ID]."


@pytest.mark.parametrize(
    "number",
    ["86095742718",  # wrong check digit
     "12345678903",  # no repeated digit in the first ten
     "11112345675",  # a digit four times
     "01234567891"],  # leading zero
)
def test_invalid_tax_ids_are_kept(number):
    assert not tax_id_is_valid(number)
    assert "[TAX_ID]" not in redact_text(f"Nummer {number}")


# spoken digits


def test_spoken_digits_conversion():
    assert spoken_digits("null eins sieben eins, eins zwei drei") == "0171123"
    assert spoken_digits("plus vier neun doppel eins") == "+4911"
    assert spoken_digits("zero one seven oh double two") == "017022"


@pytest.mark.parametrize(
    ("spoken", "placeholder"),
    [
        ("null eins sieben eins eins zwei drei vier fünf sechs sieben", "[PHONE]"),
        ("null eins sieben eins, eins zwei drei, vier fünf sechs sieben", "[PHONE]"),
        ("Null Eins Sieben Eins Zwo Drei Vier", "[PHONE]"),
        ("zero one seven one double two three four five", "[PHONE]"),
        ("plus vier neun eins sieben eins eins zwei drei vier", "[PHONE]"),
        ("eins zwei drei vier fünf sechs sieben acht", "[NUMBER]"),
        ("four one one one one one one one one one one one one one one one", "[CARD]"),
    ],
)
def test_spoken_numbers_are_replaced(spoken, placeholder):
    assert redact_text(f"Meine Nummer ist {spoken}. Danke!") == f"Meine Nummer ist {placeholder}. Danke!"


@pytest.mark.parametrize(
    "text",
    ["Wir haben zwei Kinder und drei Autos.", "eins zwei drei vier fünf sechs", "Ohne Acht gibt es keine Null.",
     "one two three, go!"],
)
def test_short_or_scattered_number_words_are_kept(text):
    assert redact_text(text) == text


# what must survive


@pytest.mark.parametrize(
    "text",
    [
        "Am 12.03.2024 um 14:30 Uhr.",
        "Wir zahlen 1.500 Euro, also 1.250,00 € im Monat, 0,5 Prozent.",
        "Seit 2019, bis 2024; Vertrag vom 2023-01-05 und 05.03.24.",
        "Wir haben 3 Kinder und wohnen in 04109 Leipzig, Hausnummer 12.",
        "Die Jahre 2019 2020 2021 2022 waren gut.",
        "Der Kredit über 250000 Euro läuft 20 Jahre.",
        "Vertrag 123456 vom 1. Mai.",
        "Alles klar, vielen Dank und einen schönen Tag!",
    ],
)
def test_ordinary_numbers_survive(text):
    assert redact_text(text) == text


@given(
    st.dates().map(lambda d: d.strftime("%d.%m.%Y")),
    st.integers(min_value=1, max_value=999_999).map(lambda n: f"{n:,}".replace(",", ".")),
    st.times().map(lambda t: t.strftime("%H:%M")),
)
def test_dates_amounts_and_times_survive(date, amount, time):
    text = f"Am {date} um {time} Uhr haben wir {amount} Euro überwiesen."
    assert redact_text(text) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=80))
def test_text_without_digits_or_number_words_is_unchanged(text):
    if "@" in text or any(word in text.lower() for word in (" at ", " ät ", " dot ", " punkt ")):
        return
    assert redact_text(text) == text


def test_several_identifiers_in_one_segment():
    text = "IBAN DE89 3704 0044 0532 0130 00, Tel. 0171 1234567, Mail anna@example.de, Karte 4111 1111 1111 1111."
    assert redact_text(text) == "IBAN [IBAN], Tel. [PHONE], Mail [EMAIL], Karte [CARD]."


# results


def test_redact_result_returns_a_redacted_copy():
    text = "Neue IBAN DE89 3704 0044 0532 0130 00, wir ziehen um."
    result = CallResult(
        Transcript([Segment("customer", text, 1.0, 4.0, "Kunde")], language="de", duration_s=4.0),
        [Signal("life_event", "relocation", text, "customer", 1.0, 4.0, 0.9, 0)],
        [Opportunity("home_insurance", "Hausrat", "life_event", "relocation", text, "customer", 1.0, 4.0, 0.8,
                     "Rufen Sie 0171 1234567 an")],
    )

    redacted = redact_result(result)

    expected = "Neue IBAN [IBAN], wir ziehen um."
    assert redacted.transcript.segments[0].text == expected
    assert redacted.signals[0].evidence == expected
    assert redacted.opportunities[0].evidence == expected
    assert redacted.opportunities[0].pitch == "Rufen Sie [PHONE] an"
    assert redacted.transcript.segments[0].label == "Kunde" and redacted.transcript.language == "de"
    assert result.transcript.segments[0].text == text  # the original is untouched
    assert result.signals[0].evidence == text
