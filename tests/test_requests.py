"""Products the customer asks for by name (signal ``requested``): each class of request forms of
the rule files with paraphrases in both languages, the classes that are no request, matching
(trigger ``requested``), ``show`` and the exports.

Fast: blank spaCy pipelines and the hashing encoder (as tests/test_extract.py).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from callscout.cli.render import render_call
from callscout.crm.export import export_opportunities, run_export
from callscout.crm.mappings import load_mapping
from callscout.extract import Extractor, HashingEncoder
from callscout.match.catalogue import Policy, load_catalogues, parse_catalogue
from callscout.match.opportunities import CROSS_SELL, REQUEST, match_opportunities, opportunity_type
from callscout.records import SIGNAL_KINDS, CallRecord, CallResult, Segment, Signal, Transcript
from callscout.store.database import Store
from callscout.store.rows import call_id_for

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def finanz():
    return load_catalogues(SHARED / "catalogues")["finanz"]


@pytest.fixture(scope="module")
def extractor():
    return Extractor(encoder=HashingEncoder())


def transcript(language: str, *turns: str | tuple[str, str]) -> Transcript:
    """Turns are customer text, or (role, text)."""
    pairs = [turn if isinstance(turn, tuple) else ("customer", turn) for turn in turns]
    segments = [Segment(role, text, float(i), i + 0.5) for i, (role, text) in enumerate(pairs)]
    return Transcript(segments, language=language)


def kinds(extractor, catalogue, language, *turns) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for s in extractor.extract(transcript(language, *turns), catalogue):
        found.setdefault(s.kind, set()).add(s.label)
    return found


def requested(extractor, catalogue, language, *turns) -> set[str]:
    return kinds(extractor, catalogue, language, *turns).get("requested", set())


def agent(text: str) -> tuple[str, str]:
    return ("agent", text)


def test_requested_is_a_signal_kind():
    assert "requested" in SIGNAL_KINDS


# --- each class of request forms, three or more paraphrases per language ----------------------

REQUESTS = {
    "offer_question": [
        ("en", "Do you offer contents insurance as well?", {"hausrat"}),
        ("en", "Do you guys also do mortgages?", {"baufinanzierung"}),
        ("en", "Would you by any chance have a pet liability insurance?", {"tierhalterhaftpflicht"}),
        ("en", "I was wondering whether you offer disability insurance.", {"berufsunfaehigkeit"}),
        ("en", "What kind of life insurance do you offer?", {"risikoleben"}),
        ("de", "Haben Sie auch Haftpflichtversicherungen?", {"haftpflicht"}),
        ("de", "Bieten Sie eigentlich auch Baufinanzierungen an?", {"baufinanzierung"}),
        ("de", "Gibt's bei euch auch ein Juniordepot?", {"juniordepot"}),
        ("de", "Ich wollte mal fragen, ob Sie auch Kreditkarten anbieten.", {"kreditkarte"}),
        ("de", "Hätten Sie vielleicht auch eine Kreditkarte?", {"kreditkarte"}),
    ],
    "price_question": [
        ("en", "What does a credit card cost with you?", {"kreditkarte"}),
        ("en", "How much is the liability insurance?", {"haftpflicht"}),
        ("en", "What's the premium for contents insurance?", {"hausrat"}),
        ("en", "How expensive would a car loan be?", {"autokredit"}),
        ("de", "Was kostet bei Ihnen eine Kreditkarte?", {"kreditkarte"}),
        ("de", "Wie teuer wäre denn eine Risikolebensversicherung?", {"risikoleben"}),
        ("de", "Was würde mich eine Hausrat im Monat kosten?", {"hausrat"}),
        ("de", "Wie hoch wäre der Beitrag für eine Haftpflicht?", {"haftpflicht"}),
    ],
    "obtain_question": [
        ("en", "Can I get a credit card?", {"kreditkarte"}),
        ("en", "Could we perhaps add liability insurance?", {"haftpflicht"}),
        ("en", "How do I apply for a car loan?", {"autokredit"}),
        ("en", "Would it be possible to open a junior savings account?", {"juniordepot"}),
        ("de", "Kann ich bei Ihnen auch eine Kreditkarte bekommen?", {"kreditkarte"}),
        ("de", "Könnten wir noch eine Tierhalterhaftpflicht dazunehmen?", {"tierhalterhaftpflicht"}),
        ("de", "Wie komme ich an einen Autokredit?", {"autokredit"}),
    ],
    "quote": [
        ("en", "Could you send me a quote for car insurance?", {"kfz"}),
        ("en", "I'd like a quote on buildings insurance.", {"wohngebaeude"}),
        ("en", "Can you give us an offer for a mortgage?", {"baufinanzierung"}),
        ("de", "Können Sie mir auch ein Angebot für die Kfz-Versicherung machen?", {"kfz"}),
        ("de", "Schicken Sie mir doch ein Angebot zur Wohngebäudeversicherung.", {"wohngebaeude"}),
        ("de", "Ein unverbindliches Angebot über eine Baufinanzierung wäre schön.", {"baufinanzierung"}),
    ],
    "inquiry": [
        ("en", "I'm interested in a private pension.", {"altersvorsorge"}),
        ("en", "What about life insurance?", {"risikoleben"}),
        ("en", "Could you tell me a bit more about income protection?", {"berufsunfaehigkeit"}),
        ("de", "Ich interessiere mich für eine Rentenversicherung.", {"altersvorsorge"}),
        ("de", "Wie sieht's denn mit einer Auslandskrankenversicherung aus?", {"auslandskranken"}),
        ("de", "Ich hätte Interesse an einer Berufsunfähigkeitsversicherung.", {"berufsunfaehigkeit"}),
        ("de", "Hätten Sie Infos zur Tierhalterhaftpflicht für mich?", {"tierhalterhaftpflicht"}),
    ],
    "wish": [
        ("en", "I'd like a credit card, please.", {"kreditkarte"}),
        ("en", "We need liability insurance.", {"haftpflicht"}),
        ("en", "We're looking for a mortgage.", {"baufinanzierung"}),
        ("en", "I'll take the car insurance.", {"kfz"}),
        ("en", "Put me down for the credit card.", {"kreditkarte"}),
        ("en", "We want to take out buildings insurance.", {"wohngebaeude"}),
        ("de", "Ich hätte gern noch eine Hausratversicherung.", {"hausrat"}),
        ("de", "Eine Haftpflicht hätten wir gerne.", {"haftpflicht"}),
        ("de", "Wir bräuchten eine Baufinanzierung.", {"baufinanzierung"}),
        ("de", "Ich suche eine Kreditkarte fürs Reisen.", {"kreditkarte"}),
        ("de", "Dann nehmen wir die Kfz-Versicherung.", {"kfz"}),
        ("de", "Nein, ich möchte eine Kreditkarte.", {"kreditkarte"}),
    ],
    "shared_head": [
        ("en", "Car and contents insurance, please.", {"kfz", "hausrat"}),
        ("en", "I'd like car and contents insurance.", {"kfz", "hausrat"}),
        ("en", "We need life and liability insurance.", {"risikoleben", "haftpflicht"}),
        ("de", "Kfz- und Hausratversicherung bitte.", {"kfz", "hausrat"}),
        ("de", "Ich möchte eine Kfz- und eine Hausratversicherung abschließen.", {"kfz", "hausrat"}),
        ("de", "Wir bräuchten eine Kfz- und Haftpflichtversicherung.", {"kfz", "haftpflicht"}),
    ],
}


@pytest.mark.parametrize(
    "form, language, text, products",
    [(form, language, text, products) for form, cases in REQUESTS.items() for language, text, products in cases],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else None,
)
def test_request_forms(extractor, finanz, form, language, text, products):
    assert requested(extractor, finanz, language, text) == products


ELLIPTIC = [
    # please/bitte
    ("en", [agent("Right, that's the address changed."), "The credit card, please."], {"kreditkarte"}),
    ("en", ["Contents insurance and liability insurance, please."], {"hausrat", "haftpflicht"}),
    ("en", ["Just the life insurance then, thanks."], {"risikoleben"}),
    ("de", ["die Hausrat bitte"], {"hausrat"}),
    ("de", ["Eine Kreditkarte dann noch, bitte."], {"kreditkarte"}),
    ("de", ["Hausrat und Haftpflicht gerne."], {"hausrat", "haftpflicht"}),
    # additive: "and ...", "... too"
    ("en", ["And the life insurance."], {"risikoleben"}),
    ("en", ["The credit card too."], {"kreditkarte"}),
    ("en", ["Oh, and a car loan as well."], {"autokredit"}),
    ("de", ["und Lebensversicherung"], {"risikoleben"}),
    ("de", ["Die Haftpflicht auch noch."], {"haftpflicht"}),
    ("de", ["Und noch ein Juniordepot."], {"juniordepot"}),
    # the answer to the agent's open prompt
    ("en", [agent("Anything else I could help you with today?"), "Car insurance."], {"kfz"}),
    ("en", [agent("So, what can I do for you this morning?"), "A mortgage."], {"baufinanzierung"}),
    ("en", [agent("Is there anything else you need?"), "Income protection."], {"berufsunfaehigkeit"}),
    ("de", [agent("Was kann ich sonst noch für Sie tun?"), "Die Hausrat."], {"hausrat"}),
    ("de", [agent("Darf es sonst noch etwas sein?"), "Eine Kreditkarte."], {"kreditkarte"}),
    ("de", [agent("Womit kann ich Ihnen helfen, Herr Maier?"), "Baufinanzierung."], {"baufinanzierung"}),
    # continuing a request of the sentence before
    ("en", ["I'd like a credit card. Contents insurance."], {"kreditkarte", "hausrat"}),
    ("de", ["Ich hätte gern eine Hausrat. Haftpflicht."], {"hausrat", "haftpflicht"}),
    ("de", ["Ich bräuchte einen Autokredit.", "Kfz-Versicherung."], {"autokredit", "kfz"}),
]


@pytest.mark.parametrize("language, turns, products", ELLIPTIC)
def test_elliptic_requests(extractor, finanz, language, turns, products):
    assert requested(extractor, finanz, language, *turns) == products


NOT_REQUESTS = {
    "negated": [
        ("en", ["I don't need a credit card."]),
        ("en", ["No life insurance, please."]),
        ("en", ["We never wanted a mortgage."]),
        ("de", ["Hausrat brauch ich nicht."]),
        ("de", ["Ich möchte keine Lebensversicherung."]),
        ("de", ["Keine Kreditkarte bitte."]),
    ],
    "hypothetical": [
        ("en", ["Maybe one day I'd like life insurance."]),
        ("en", ["If we buy the house, we'd need buildings insurance."]),
        ("en", ["We might want a mortgage at some point."]),
        ("de", ["Irgendwann hätten wir vielleicht gern eine Rentenversicherung."]),
        ("de", ["Wenn wir das Haus kaufen, bräuchten wir eine Wohngebäudeversicherung."]),
        ("de", ["Falls wir mal bauen, bräuchten wir eine Baufinanzierung."]),
    ],
    "reported": [
        ("en", ["My wife wants a credit card, not me."]),
        ("en", ["My husband asked whether you do credit cards."]),
        ("en", ["He told me I need life insurance."]),
        ("de", ["Meine Frau möchte eine Kreditkarte, ich nicht."]),
        ("de", ["Meine Frau hat gefragt, ob Sie Kreditkarten anbieten."]),
        ("de", ["Mein Sohn sucht eine Haftpflichtversicherung."]),
    ],
    "already_has": [
        ("en", ["I already have contents insurance with you."]),
        ("en", ["We've got liability insurance through you."]),
        ("en", ["I'd like a quote, but we already have a car insurance with you."]),
        ("de", ["Eine Hausratversicherung haben wir schon bei Ihnen."]),
        ("de", ["Die Haftpflicht hab ich bereits."]),
        ("de", ["Eine Kreditkarte habe ich schon, danke."]),
    ],
    "agent_speaks": [
        ("en", [agent("Do you need contents insurance?")]),
        ("en", [agent("Would you like a credit card as well?"), "Hmm, let me think."]),
        ("en", [agent("I'd recommend a liability insurance.")]),
        ("de", [agent("Brauchen Sie auch eine Hausratversicherung?")]),
        ("de", [agent("Was kostet bei uns eine Kreditkarte? Nur zwanzig Euro im Jahr.")]),
        ("de", [agent("Ich hätte da noch eine Haftpflicht für Sie.")]),
    ],
    "own_product_or_service": [
        ("en", ["I'd like to cancel my car insurance."]),
        ("en", ["What does my contents insurance cost?"]),
        ("en", ["We need to change the liability insurance address."]),
        ("de", ["Ich möchte meine Kfz-Versicherung kündigen."]),
        ("de", ["Was kostet eigentlich meine Hausrat?"]),
        ("de", ["Ich möchte die Haftpflicht auf die neue Adresse umstellen."]),
    ],
    "bare_name_without_marker": [
        ("en", [agent("Which insurances do you have with us?"), "Car insurance and liability insurance."]),
        ("en", ["Car insurance."]),
        ("en", [agent("Which one did you mean?"), "The credit card."]),
        ("de", [agent("Welche Versicherungen haben Sie bei uns?"), "Hausrat und Haftpflicht."]),
        ("de", ["Die Hausratversicherung."]),
        ("de", [agent("Worauf bezieht sich das?"), "Auf die Kreditkarte."]),
    ],
    "long_past": [
        ("en", ["Back in the nineties we wanted a mortgage."]),
        ("en", ["We bought our first flat in 1998, long ago. A mortgage was what we needed."]),
        ("de", ["Damals wollten wir eine Baufinanzierung."]),
        ("de", ["Vor zwanzig Jahren hätten wir gern eine Lebensversicherung gehabt."]),
    ],
}


@pytest.mark.parametrize(
    "why, language, turns",
    [(why, language, turns) for why, cases in NOT_REQUESTS.items() for language, turns in cases],
)
def test_no_request(extractor, finanz, why, language, turns):
    assert requested(extractor, finanz, language, *turns) == set(), why


def test_question_to_the_company_is_no_possession(extractor, finanz):
    """Ownership reads "haben Sie" / "do you have" as possession; a request question yields."""
    for language, text in (("de", "Haben Sie auch Hausratversicherungen?"), ("en", "Do you have contents insurance?"),
                           ("en", "What does a credit card cost with you?")):
        found = kinds(extractor, finanz, language, text)
        assert found.get("requested") and not found.get("already_has"), text
    # a possession stated in its own clause still wins
    found = kinds(extractor, finanz, "de", "Ich hab die Hausrat bei Ihnen, was kostet denn eine Haftpflicht?")
    assert found["already_has"] == {"hausrat"} and found["requested"] == {"haftpflicht"}


def test_requested_signal_carries_sentence_and_speaker(extractor, finanz):
    signals = extractor.extract(transcript("de", agent("Guten Tag!"), "Hallo. Ich hätte gern eine Kreditkarte."), finanz)
    (signal,) = [s for s in signals if s.kind == "requested"]
    assert (signal.label, signal.speaker, signal.segment_idx) == ("kreditkarte", "customer", 1)
    assert signal.evidence == "Ich hätte gern eine Kreditkarte." and signal.start == 1.0


def test_name_needs_an_alias(extractor):
    """Only names the catalogue (or the rule files' synonyms) knows: with an alias "home insurance"
    the question counts."""
    catalogue = parse_catalogue(
        {
            "catalogue": "t",
            "products": [{"id": "home", "name": "Home insurance", "triggers": {"needs": ["Who pays if the flat burns?"]}}],
        }
    )
    assert requested(extractor, catalogue, "en", "Do you do home insurance as well?") == {"home"}


# --- matching ------------------------------------------------------------------------------------

def signal(kind: str, label: str, confidence: float = 0.9, segment: int = 0) -> Signal:
    return Signal(kind, label, f"evidence {kind} {label}", "customer", float(segment), segment + 1.0, confidence, segment)


def test_request_becomes_an_opportunity_of_kind_requested(finanz):
    (opp,) = match_opportunities([signal("requested", "kreditkarte")], finanz)
    assert (opp.product_id, opp.trigger_kind, opp.trigger_label) == ("kreditkarte", "requested", "kreditkarte")
    assert opp.score == round(0.95 * 0.9, 3) and opp.evidence == "evidence requested kreditkarte"
    assert opportunity_type(opp.trigger_kind) == REQUEST and opportunity_type("life_event") == CROSS_SELL


def test_request_beats_other_triggers_of_the_product(finanz):
    signals = [signal("life_event", "moving", 1.0), signal("requested", "hausrat", 0.8, segment=3)]
    opps = {o.product_id: o for o in match_opportunities(signals, finanz, apply_policy=False)}
    assert opps["hausrat"].trigger_kind == "requested" and opps["hausrat"].start == 3.0
    assert opps["haftpflicht"].trigger_kind == "life_event"  # other products keep theirs


@pytest.mark.parametrize("kind", ["declined", "already_has"])
def test_request_is_suppressed_like_any_trigger(finanz, kind):
    assert match_opportunities([signal("requested", "hausrat"), signal(kind, "hausrat")], finanz) == []


def test_requests_come_first_and_do_not_use_up_the_cut(finanz):
    strict = dataclasses.replace(finanz, policy=Policy(max_opportunities_per_call=1, min_score=0.9))
    signals = [signal("life_event", "moving", 1.0), signal("requested", "kreditkarte", 0.8), signal("requested", "kfz", 0.8)]
    opps = match_opportunities(signals, strict)
    assert [o.trigger_kind for o in opps] == ["requested", "requested", "life_event"]
    assert {o.product_id for o in opps[:2]} == {"kreditkarte", "kfz"}


def test_request_for_a_product_without_triggers_is_no_opportunity():
    catalogue = parse_catalogue(
        {
            "catalogue": "t",
            "products": [{"id": "phone", "name": "Phone"}, {"id": "case", "name": "Case", "triggers": {"complements": ["phone"]}}],
        }
    )
    assert match_opportunities([signal("requested", "phone")], catalogue) == []


def test_extracted_request_reaches_the_match(extractor, finanz):
    call = transcript(
        "en", agent("Hello, what can I do for you?"), "We're moving house next month. Do you do contents insurance?"
    )
    opps = {o.product_id: o for o in match_opportunities(extractor.extract(call, finanz), finanz, apply_policy=False)}
    assert opps["hausrat"].trigger_kind == "requested"
    assert opps["hausrat"].evidence == "Do you do contents insurance?"
    assert opps["haftpflicht"].trigger_kind == "life_event"


# --- show and exports ----------------------------------------------------------------------------

@pytest.fixture
def store(finanz):
    with Store(":memory:") as store:
        sha = hashlib.sha256(b"req.txt").hexdigest()
        record = CallRecord(
            id=call_id_for(sha), source_path="/calls/req.txt", source_sha256=sha, status="processing",
            customer_id="K-1", account_manager="Jörg Weiß", recorded_at="2026-11-02T10:15:00", catalogue="finanz",
        )
        texts = ["Wir ziehen nächsten Monat nach Leipzig um.", "Was kostet bei Ihnen eine Kreditkarte?"]
        signals = [
            Signal("life_event", "moving", texts[0], "customer", 0.0, 1.0, 0.9, 0),
            Signal("requested", "kreditkarte", texts[1], "customer", 1.0, 2.0, 0.9, 1),
        ]
        segments = [Segment("customer", text, float(i), i + 1.0) for i, text in enumerate(texts)]
        result = CallResult(Transcript(segments, language="de"), signals, match_opportunities(signals, finanz))
        store.save_call(record, result)
        yield store


def test_show_lists_requests_apart(store):
    call_id = next(store.iter_opportunities())["call_id"]
    text = render_call(store.call_detail(call_id))
    requests, cross_sell = text.split("requested by the customer:\n")[1].split("opportunities:\n")
    assert "Reise-Kreditkarte [requested: kreditkarte]" in requests
    assert "Hausratversicherung" not in requests
    assert "Hausratversicherung [life_event: moving]" in cross_sell and "Kreditkarte" not in cross_sell
    assert "^ requested: kreditkarte" in text  # marked under its segment like every signal


def test_show_without_requests_has_no_request_heading(store, finanz):
    with Store(":memory:") as other:
        sha = hashlib.sha256(b"plain.txt").hexdigest()
        record = CallRecord(id=call_id_for(sha), source_path="/calls/plain.txt", source_sha256=sha, status="processing")
        signals = [Signal("life_event", "moving", "Wir ziehen um.", "customer", 0.0, 1.0, 0.9, 0)]
        segments = [Segment("customer", "Wir ziehen um.", 0.0, 1.0)]
        result = CallResult(Transcript(segments), signals, match_opportunities(signals, finanz))
        other.save_call(record, result)
        text = render_call(other.call_detail(record.id))
    assert "requested by the customer" not in text and "opportunities:" in text


def types_by_product(rows, product_key, type_key):
    return {row[product_key]: row[type_key] for row in rows}


def test_csv_and_jsonl_have_opportunity_type(store, tmp_path):
    export_opportunities(store, "csv", tmp_path / "o.csv")
    with (tmp_path / "o.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert types_by_product(rows, "product_id", "opportunity_type")["kreditkarte"] == "request"
    assert all(r["opportunity_type"] == ("request" if r["trigger_kind"] == "requested" else "cross_sell") for r in rows)
    assert {r["opportunity_type"] for r in rows} == {"request", "cross_sell"}
    export_opportunities(store, "jsonl", tmp_path / "o.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    expected = types_by_product(rows, "product_id", "opportunity_type")
    assert types_by_product(lines, "product_id", "opportunity_type") == expected


def test_crm_files_have_a_type_column(store, tmp_path):
    export_opportunities(store, "salesforce", tmp_path / "sf.csv")
    with (tmp_path / "sf.csv").open(encoding="utf-8", newline="") as handle:
        sf = list(csv.DictReader(handle))
    assert {r["Type"] for r in sf if r["Name"].startswith("Reise-Kreditkarte")} == {"Customer request"}
    assert {r["Type"] for r in sf if not r["Name"].startswith("Reise-Kreditkarte")} == {"Cross-sell"}
    assert "Trigger: requested 'kreditkarte'" in next(r for r in sf if r["Type"] == "Customer request")["Description"]
    export_opportunities(store, "hubspot", tmp_path / "hs.csv")
    with (tmp_path / "hs.csv").open(encoding="utf-8", newline="") as handle:
        hs = list(csv.DictReader(handle))
    assert {r["Opportunity type"] for r in hs if r["Deal name"].startswith("Reise-Kreditkarte")} == {"Customer request"}
    assert {r["Opportunity type"] for r in hs if not r["Deal name"].startswith("Reise-Kreditkarte")} == {"Cross-sell"}


def test_type_column_and_values_are_mappable(store, tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "salesforce:\n  opportunity: {type: null}\n"
        "hubspot:\n  deal: {type: Deal Type}\n  values: {type_request: existingbusiness, type_cross_sell: newbusiness}\n",
        encoding="utf-8",
    )
    run_export(store, "salesforce", tmp_path / "sf.csv", mapping=load_mapping(mapping))
    with (tmp_path / "sf.csv").open(encoding="utf-8", newline="") as handle:
        assert "Type" not in next(csv.reader(handle))
    run_export(store, "hubspot", tmp_path / "hs.csv", mapping=load_mapping(mapping))
    with (tmp_path / "hs.csv").open(encoding="utf-8", newline="") as handle:
        hs = list(csv.DictReader(handle))
    assert "Opportunity type" not in hs[0]
    assert {r["Deal Type"] for r in hs if r["Deal name"].startswith("Reise-Kreditkarte")} == {"existingbusiness"}
    assert {r["Deal Type"] for r in hs if not r["Deal name"].startswith("Reise-Kreditkarte")} == {"newbusiness"}
