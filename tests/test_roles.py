"""Speaker roles inferred from the dialogue when the labels say nothing (``callscout.inputs.roles``),
their source stored with the call (migration 006), shown by ``show`` and scored by ``eval --unlabelled``.

Every dialogue here is written for these tests; none comes from an evaluation set.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from callscout.inputs.roles import (
    CHANNELS,
    INFERRED,
    LABELS,
    MIN_CONFIDENCE,
    assign_roles,
    infer_roles,
    load_cues,
    normalise_text,
    roles_lines,
)
from callscout.inputs.transcripts import parse_txt
from callscout.records import AGENT, CUSTOMER, UNKNOWN, Segment, Signal, Transcript
from callscout.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RELEASE_STORE = Path(__file__).with_name("data") / "store_0.1.0_migrations_001-004.db"
NEUTRAL_DE = "Ja, das verstehe ich."
NEUTRAL_EN = "Okay, I see."


def transcript(turns: list[tuple[str, str]], language: str | None = None) -> Transcript:
    return Transcript([Segment(UNKNOWN, text, label=label) for label, text in turns], language=language)


def roles_of(result: Transcript) -> dict[str, str]:
    return {segment.label: segment.speaker for segment in result.segments}


def fired(language: str, text: str, opening: bool = True) -> set[str]:
    """The cue groups (``side:name``) one turn matches."""
    return {
        f"{group.side}:{group.name}"
        for group in load_cues(language).groups
        if (opening or not group.opening) and group.matches(normalise_text(text))
    }


# --- cue classes, several paraphrases each --------------------------------------------------------

CUE_CLASSES = {
    "de": {
        "agent:greeting": [
            "Guten Tag, Stadtwerke Kleinstadt, mein Name ist Jana Roth.",
            "Kundenservice der Musterbank, Sie sprechen mit Herrn Brandt.",
            "Herzlich willkommen bei der Beispiel Versicherung.",
            "Hallo Herr Kurz, ich rufe Sie wegen Ihres Stromvertrags an.",
            "Moin, Hotline Nordnetz, was gibt's?",
        ],
        "agent:service_question": [
            "Was kann ich für Sie tun?",
            "Wie kann ich Ihnen helfen?",
            "Womit kann ich Ihnen behilflich sein?",
            "Kann ich sonst noch etwas für Sie tun?",
            "Worum geht es denn?",
        ],
        "agent:identification": [
            "Können Sie mir bitte Ihre Kundennummer nennen?",
            "Wie ist Ihr Nachname, bitte?",
            "Einen Moment bitte, ich schaue im System nach.",
            "Ich sehe hier in Ihrem Vertrag, dass der Tarif ausläuft.",
        ],
        "agent:offer": [
            "Da würde ich Ihnen unsere Zahnzusatzversicherung empfehlen.",
            "Viele unserer Kunden nehmen dann noch eine Rechtsschutzversicherung dazu.",
            "Dazu haben wir übrigens ein passendes Paket im Angebot.",
            "Wäre das etwas für Sie?",
        ],
        "customer:request": [
            "Hallo, ich hätte da mal eine Frage zu meiner Abrechnung.",
            "Ich rufe wegen der letzten Rechnung an.",
            "Ich wollte mich erkundigen, ob das geht.",
            "Können Sie mir da weiterhelfen? Ich würde gern kündigen.",
        ],
        "customer:own_account": [
            "Meine Stromrechnung ist viel zu hoch.",
            "Mein Vertrag läuft im Juni aus.",
            "Meine Kundennummer ist 4711.",
        ],
        "customer:own_life": [
            "Meine Frau und ich bekommen im Herbst ein Baby.",
            "Unsere Tochter fängt bald mit der Schule an.",
            "Wir haben letzten Monat ein Haus gekauft.",
        ],
    },
    "en": {
        "agent:greeting": [
            "Thanks for calling Sample Energy, this is Mark.",
            "Thank you for contacting Acme Bank, you're speaking with Lisa.",
            "Good morning, customer service, how are you today?",
            "Hi Mr Jones, I'm calling about your broadband contract.",
        ],
        "agent:service_question": [
            "How can I help you today?",
            "What can I do for you?",
            "How may I assist you?",
            "Is there anything else I can help you with?",
        ],
        "agent:identification": [
            "Can I have your customer number, please?",
            "Could you please confirm your date of birth?",
            "Let me just pull up your account.",
            "Bear with me, I can see here that the payment bounced.",
        ],
        "agent:offer": [
            "I'd recommend our home contents package for that.",
            "We also offer a travel add-on.",
            "Many of our customers in your situation take the family bundle.",
            "Would you be interested in that?",
        ],
        "customer:request": [
            "Hi, I'm calling about my last bill.",
            "I have a quick question about the contract.",
            "I wanted to ask whether I can change the date.",
            "Could you help me with that, please?",
        ],
        "customer:own_account": [
            "My bill went up again this month.",
            "My direct debit failed.",
            "My number is 12345.",
        ],
        "customer:own_life": [
            "My wife and I are expecting our first child.",
            "Our daughter starts university in October.",
            "We just moved into a bigger flat.",
        ],
    },
}
PARAPHRASES = [(lang, group, text) for lang, groups in CUE_CLASSES.items() for group, texts in groups.items() for text in texts]


@pytest.mark.parametrize(("language", "group", "text"), PARAPHRASES)
def test_each_paraphrase_fires_its_cue_class(language, group, text):
    assert group in fired(language, text)


@pytest.mark.parametrize(
    ("language", "text", "not_side"),
    [
        ("de", "Ich hab schon dreimal beim Kundenservice angerufen.", "agent"),  # a department named, not greeting as it
        ("de", "Ich brauche dafür noch Ihre Vertragsnummer.", "customer"),  # the agent's "ich brauche"
        ("de", "Ich rufe wegen Ihres Vertrags an.", "customer"),  # an outbound agent's reason for calling
        ("de", "Unser Paket ist nicht angekommen.", "agent"),  # the customer's parcel, not the company's
        ("de", "Hallo, hier spricht Müller.", "agent"),  # customers give their names too: only the weak class
        ("en", "We have a dog and two cats.", "agent"),  # "we have a" is no offer
        ("en", "Our home insurance covers that as well.", "customer"),  # the agent's product, not the customer's home
        ("en", "Let me see, it was in May.", "agent"),  # a filler, not looking the account up
        ("en", "I'm calling about your contract renewal.", "customer"),  # an outbound agent
    ],
)
def test_look_alikes_fire_no_class_of_the_other_side(language, text, not_side):
    assert not {g for g in fired(language, text) if g.startswith(not_side) and g != "agent:self_introduction"}


def test_a_self_introduction_weighs_less_than_a_request():
    """Customers give their names too: "mein Name ist X, ich hätte eine Frage" is the customer's."""
    cues = {f"{g.side}:{g.name}": g.weight for g in load_cues("de").groups}
    assert cues["agent:self_introduction"] < cues["customer:request"]
    assert {"agent:self_introduction", "customer:request"} <= fired("de", "Mein Name ist Weber, ich hätte eine Frage.")


# --- whole dialogues --------------------------------------------------------------------------------

GERMAN_CALL = [
    ("Sprecher 1", "Guten Tag, Stadtwerke Kleinstadt, mein Name ist Jana Roth, was kann ich für Sie tun?"),
    ("Sprecher 2", "Hallo, Weber hier. Ich hätte eine Frage zu meiner Abschlagszahlung."),
    ("Sprecher 1", "Gern. Können Sie mir bitte Ihre Kundennummer nennen?"),
    ("Sprecher 2", "Ja, die ist 123 456."),
    ("Sprecher 1", "Danke. Einen Moment bitte, ich schaue nach."),
    ("Sprecher 2", "Wir ziehen nämlich im Mai in eine größere Wohnung."),
    ("Sprecher 1", "Dann empfehle ich Ihnen, den Abschlag gleich anzupassen. Viele Kunden nehmen beim Umzug auch unser Ökostrom-Angebot."),
    ("Sprecher 2", "Das klingt gut, ich überlege es mir."),
]
ENGLISH_CALL = [
    ("Speaker A", "Thanks for calling Sample Energy, this is Mark, how can I help?"),
    ("Speaker B", "Hi, I'm calling about my bill, it doubled this month."),
    ("Speaker A", "I'm sorry to hear that. Can I have your account number, please?"),
    ("Speaker B", "Sure, it's 998877."),
    ("Speaker A", "Thank you. Let me just pull up your account. I can see here that the meter reading was estimated."),
    ("Speaker B", "We just moved into a bigger flat with our kids, so that's probably it."),
    ("Speaker A", "That makes sense. We also offer a smart meter, many of our customers find it useful."),
    ("Speaker B", "Okay, I'll think about it."),
]


@pytest.mark.parametrize(("turns", "language"), [(GERMAN_CALL, "de"), (ENGLISH_CALL, "en"), (GERMAN_CALL, None), (ENGLISH_CALL, None)])
def test_the_agent_is_the_speaker_who_greets_asks_and_offers(turns, language):
    call = transcript(turns, language)
    guess = assign_roles(call)
    first, second = turns[0][0], turns[1][0]
    assert roles_of(call) == {first: AGENT, second: CUSTOMER}
    assert call.role_source == INFERRED and call.role_confidence == guess.confidence >= 0.7
    assert [s.label for s in call.segments] == [label for label, _ in turns]  # the labels stay as written


def test_customer_speaks_first_on_an_outbound_call():
    call = transcript([
        ("SPEAKER_00", "Ja, hallo?"),
        ("SPEAKER_01", "Guten Tag Herr Weber, hier ist Frau Roth von der Musterbank. Ich rufe Sie wegen Ihres Sparvertrags an."),
        ("SPEAKER_00", "Ach so. Ja, der läuft bald aus, oder?"),
        ("SPEAKER_01", "Genau. Ich sehe hier in Ihrem Vertrag, dass er im Juli endet. Da würde ich Ihnen unser neues Festgeld-Angebot empfehlen."),
        ("SPEAKER_00", "Hm, unsere Tochter heiratet im Sommer, da brauchen wir das Geld vielleicht."),
        ("SPEAKER_01", "Das verstehe ich. Haben Sie sonst noch Fragen?"),
        ("SPEAKER_00", "Nein, danke."),
    ], "de")
    assign_roles(call)
    assert roles_of(call) == {"SPEAKER_00": CUSTOMER, "SPEAKER_01": AGENT}


def test_english_customer_speaks_first():
    call = transcript([
        ("Speaker A", "Hello?"),
        ("Speaker B", "Hi, is that Mrs Green? This is Tom from Acme Broadband, I'm calling about your contract."),
        ("Speaker A", "Oh, yes, my contract ends in June, doesn't it?"),
        ("Speaker B", "That's right. Could you confirm your postcode for me? We also have a fibre bundle that many of our customers switch to."),
        ("Speaker A", "My son is moving back home, so we need faster internet anyway."),
    ], "en")
    assign_roles(call)
    assert roles_of(call) == {"Speaker A": CUSTOMER, "Speaker B": AGENT}


@pytest.mark.parametrize(
    "turns",
    [
        [("Sprecher 1", "Hallo."), ("Sprecher 2", "Hallo."), ("Sprecher 1", "Ja, genau."), ("Sprecher 2", "Gut, bis dann.")],
        [("Speaker A", "Nice weather today."), ("Speaker B", "Yes, lovely."), ("Speaker A", "See you."), ("Speaker B", "Bye.")],
        # both sides sound alike: each asks for help and each talks about their own family
        [("Speaker A", "Hi, I have a question about my bill."), ("Speaker B", "Hi, I have a question about my bill too."),
         ("Speaker A", "My wife handles that usually."), ("Speaker B", "My wife does too.")],
    ],
)
def test_an_ambiguous_call_keeps_its_speakers_unknown(turns):
    call = transcript(turns)
    guess = assign_roles(call)
    assert guess is not None and guess.confidence < MIN_CONFIDENCE
    assert {s.speaker for s in call.segments} == {UNKNOWN}
    assert call.role_source is None and call.role_confidence == guess.confidence


def test_a_third_speaker_stays_unknown():
    turns = [*GERMAN_CALL[:3], ("Sprecher 3", "Mhm."), *GERMAN_CALL[3:]]
    call = transcript(turns, "de")
    assign_roles(call)
    roles = roles_of(call)
    assert roles["Sprecher 1"] == AGENT and roles["Sprecher 2"] == CUSTOMER and roles["Sprecher 3"] == UNKNOWN


def test_labels_count_apart_from_case_and_spacing():
    turns = [(label.upper() if n % 2 else label, text) for n, (label, text) in enumerate(GERMAN_CALL)]
    guess = infer_roles(transcript(turns, "de").segments, "de")
    assert guess.role_of("sprecher 1") == AGENT and len(guess.roles) == 2


def test_repeating_a_cue_earns_at_most_its_cap():
    repeated = [("Speaker A", "How can I help?"), ("Speaker B", NEUTRAL_EN)] * 6
    guess = infer_roles(transcript(repeated, "en").segments, "en")
    group = next(g for g in load_cues("en").groups if g.name == "service_question")
    assert guess.evidence["speaker a"].points["agent:service_question"] == group.weight * group.max_turns


@pytest.mark.parametrize(
    ("segments", "source", "confidence"),
    [
        ([Segment(AGENT, "Guten Tag", label="Berater"), Segment(CUSTOMER, "Hallo", label="Kunde")], LABELS, 1.0),
        ([Segment(AGENT, "Guten Tag"), Segment(CUSTOMER, "Hallo")], CHANNELS, 1.0),  # stereo: no labels
        ([Segment(UNKNOWN, "Guten Tag"), Segment(UNKNOWN, "Hallo")], None, None),  # mono: one speaker
        ([Segment(UNKNOWN, "Guten Tag", label="Anna"), Segment(UNKNOWN, "Hallo", label="Anna")], None, None),
    ],
)
def test_role_source_of_labelled_stereo_and_single_speaker_calls(segments, source, confidence):
    call = Transcript(segments)
    assert assign_roles(call) is None
    assert (call.role_source, call.role_confidence) == (source, confidence)


def test_a_txt_transcript_with_numbered_speakers():
    text = "\n".join(f"{label}: {line}" for label, line in GERMAN_CALL)
    call = parse_txt(text)
    assert {s.speaker for s in call.segments} == {UNKNOWN}
    assign_roles(call)
    assert call.segments[0].speaker == AGENT and call.segments[0].label == "Sprecher 1"


def test_configured_labels_win_over_inference():
    text = "\n".join(f"{label}: {line}" for label, line in GERMAN_CALL)
    call = parse_txt(text, {"Sprecher 2": "agent", "Sprecher 1": "customer"})
    assign_roles(call)
    assert call.role_source == LABELS and call.segments[0].speaker == CUSTOMER


# --- the pipeline and the store ---------------------------------------------------------------------


class NotAgentExtractor:
    """A stand-in for ``Extractor``: a "need" signal for every turn not spoken by the agent."""

    def extract(self, transcript, catalogue):
        return [
            Signal("need", "hausrat", s.text, s.speaker, s.start, s.end, 0.9, i)
            for i, s in enumerate(transcript.segments) if s.speaker != AGENT
        ]


def process(tmp_path: Path, text: str) -> tuple[Store, str]:
    from callscout.config import Config
    from callscout.match.catalogue import load_catalogue
    from callscout.process import Pipeline

    (tmp_path / "call.txt").write_text(text, encoding="utf-8")
    store = Store(tmp_path / "calls.db")
    catalogue = load_catalogue(ROOT / "fixtures" / "catalogues" / "finanz.yaml")
    summary = Pipeline(Config(language="de"), catalogue, store, extractor=NotAgentExtractor()).run([tmp_path / "call.txt"])
    (outcome,) = summary.outcomes
    assert outcome.status == "done", outcome.error
    return store, outcome.call_id


def test_the_pipeline_stores_inferred_roles_and_the_agent_gives_no_signal(tmp_path):
    store, call_id = process(tmp_path, "\n".join(f"{label}: {line}" for label, line in GERMAN_CALL))
    with store:
        call = store.find_call(call_id)
        assert call["role_source"] == INFERRED and 0.5 <= call["role_confidence"] <= 1
        speakers = {(row["speaker_label"], row["speaker"]) for row in store.db.query("SELECT * FROM segments")}
        assert speakers == {("Sprecher 1", AGENT), ("Sprecher 2", CUSTOMER)}
        assert {row["speaker"] for row in store.db.query("SELECT speaker FROM signals")} == {CUSTOMER}


def test_the_pipeline_stores_labels_as_the_source(tmp_path):
    store, call_id = process(tmp_path, "Berater: Guten Tag.\nKunde: Wir ziehen um.\n")
    with store:
        call = store.find_call(call_id)
        assert (call["role_source"], call["role_confidence"]) == (LABELS, 1.0)


def test_show_prints_where_the_roles_came_from(tmp_path):
    from typer.testing import CliRunner

    from callscout.cli.commands import app

    store, call_id = process(tmp_path, "\n".join(f"{label}: {line}" for label, line in GERMAN_CALL))
    with store:
        confidence = store.find_call(call_id)["role_confidence"]
    result = CliRunner().invoke(app, ["show", call_id, "--db", str(tmp_path / "calls.db")])
    assert result.exit_code == 0, result.output
    assert f"roles: inferred ({confidence:.2f})" in result.output.splitlines()


@pytest.mark.parametrize(
    ("call", "line"),
    [
        ({"status": "done", "role_source": "inferred", "role_confidence": 0.834}, ["roles: inferred (0.83)"]),
        ({"status": "done", "role_source": "labels", "role_confidence": 1.0}, ["roles: labels"]),
        ({"status": "done", "role_source": "channels", "role_confidence": 1.0}, ["roles: channels"]),
        ({"status": "done", "role_source": None, "role_confidence": 0.31}, ["roles: unknown (inferred 0.31, below 0.50)"]),
        ({"status": "done", "role_source": None, "role_confidence": None}, ["roles: unknown"]),
        ({"status": "failed", "role_source": None, "role_confidence": None}, []),
    ],
)
def test_roles_line(call, line):
    assert roles_lines(call) == line


def test_migration_006_on_a_fresh_store():
    with Store(":memory:") as store:
        columns = {c.name: c.type for c in store.db["calls"].columns}
        assert columns["role_source"] == "TEXT" and columns["role_confidence"] == "REAL"
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute("INSERT INTO calls (id, source_path, source_sha256, status, role_source) VALUES ('a', 'a', 'a', 'done', 'guess')")


def test_migration_006_on_a_release_0_1_0_store(tmp_path):
    db = tmp_path / "release.db"
    shutil.copy(RELEASE_STORE, db)
    tables = ("calls", "segments", "signals", "opportunities", "opportunity_evidence", "outcomes")
    with sqlite3.connect(db) as conn:
        before = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    with Store(db) as store:
        assert {"role_source", "role_confidence"} <= {c.name for c in store.db["calls"].columns}
        rows = list(store.db.query("SELECT id, role_source, role_confidence FROM calls"))
    assert rows and all((r["role_source"], r["role_confidence"]) == (LABELS, 1.0) for r in rows)  # a labelled .txt
    with sqlite3.connect(db) as conn:
        after = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    assert {t: [row[: len(before[t][0])] for row in after[t]] for t in tables if before[t]} == {t: rows for t, rows in before.items() if rows}
    assert after["calls"][0][-2:] == ("labels", 1.0)


# --- eval --unlabelled --------------------------------------------------------------------------------


def test_unlabelled_gold_turns_get_neutral_labels_in_turn_order():
    from callscout.evaluation.quality import GoldCall

    call = GoldCall("x", "de", "finanz", [("customer", "Hallo?"), ("agent", "Guten Tag."), ("customer", "Ja.")])
    assert [(s.label, s.speaker) for s in call.unlabelled_transcript().segments] == [
        ("Sprecher 1", UNKNOWN), ("Sprecher 2", UNKNOWN), ("Sprecher 1", UNKNOWN)
    ]
    english = GoldCall("y", "en", "finanz", [("agent", "Hi."), ("customer", "Hello.")])
    assert [s.label for s in english.unlabelled_transcript().segments] == ["Speaker A", "Speaker B"]


def write_gold(tmp_path: Path) -> Path:
    calls = [
        {"id": "r1", "language": "de", "catalogue": "finanz", "turns": [[("agent" if label == "Sprecher 1" else "customer"), text]
                                                                       for label, text in GERMAN_CALL], "life_events": ["moving"]},
        {"id": "r2", "language": "en", "catalogue": "finanz", "turns": [[("agent" if label == "Speaker A" else "customer"), text]
                                                                       for label, text in ENGLISH_CALL], "life_events": ["moving"]},
        {"id": "r3", "language": "en", "catalogue": "finanz",
         "turns": [["agent", "Nice weather today."], ["customer", "Yes, lovely."], ["agent", "See you."], ["customer", "Bye."]]},
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in calls), encoding="utf-8")
    return path


def test_cli_eval_unlabelled_reports_role_accuracy(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from callscout.cli.commands import app

    monkeypatch.setenv("CALLSCOUT_ENCODER", "hashing")
    args = ["eval", str(write_gold(tmp_path)), "--catalogues", str(SHARED / "catalogues")]
    data = json.loads(CliRunner().invoke(app, [*args, "--unlabelled", "--split", "all", "--json"]).output)
    roles = data["roles"]
    assert (roles["calls"], roles["turns"], roles["unknown_calls"], roles["swapped_calls"]) == (3, 20, 1, 0)
    assert roles["correct"] == 16 and roles["accuracy"] == 0.8  # the small-talk call's 4 turns stay unknown

    table = CliRunner().invoke(app, [*args, "--unlabelled"])
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if line.startswith("role accuracy"))
    assert row.split()[-2] == "0.800"
    assert "roles inferred: accuracy 0.800 (16/20 turns); calls left unknown 1/3, agent wrong 0" in table.output
    plain = json.loads(CliRunner().invoke(app, [*args, "--split", "all", "--json"]).output)
    assert "roles" not in plain
    # the roles inferred are the gold ones where decided; the small-talk call has nothing to find
    assert data["life_events"] == plain["life_events"] and data["opportunities"] == plain["opportunities"]
