"""Statement analysis: what a sentence says about a life event, not which words it has.

Every sentence here was written for these tests and is in no call set. Each class of
expressions has paraphrases in both languages, and a control that still counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callscout.extract import Extractor, HashingEncoder
from callscout.match.catalogue import load_catalogue
from callscout.records import Segment, Transcript

CATALOGUE = Path(__file__).resolve().parents[1] / "fixtures" / "catalogues" / "finanz.yaml"


@pytest.fixture(scope="module")
def events():
    extractor = Extractor(encoder=HashingEncoder())
    catalogue = load_catalogue(CATALOGUE)

    def found(*turns: tuple[str, str], language: str) -> set[str]:
        transcript = Transcript([Segment(role, text, float(i), i + 0.5) for i, (role, text) in enumerate(turns)], language)
        return {s.label for s in extractor.extract(transcript, catalogue) if s.kind == "life_event"}

    return found


@pytest.mark.parametrize(
    "language, text",
    [
        ("de", "Die Hochzeit im Juni ist abgesagt."),
        ("de", "Eigentlich wollten wir im Herbst umziehen, aber das ist geplatzt."),
        ("de", "Der Hauskauf ist vom Tisch, die Bank hat nicht mitgespielt."),
        ("de", "Wir wollten im Mai heiraten. Ist aber abgesagt."),
        ("en", "The wedding has been called off."),
        ("en", "We were going to buy the house but the sale fell through."),
        ("en", "Our move to Leeds is off now."),
        ("en", "We had planned to move in June. That's cancelled now."),
    ],
)
def test_a_plan_called_off_is_no_life_event(events, language, text):
    assert events(("customer", text), language=language) == set()


@pytest.mark.parametrize(
    "language, text",
    [
        ("de", "Sollen wir jetzt doch ein Haus kaufen?"),
        ("de", "Lohnt sich ein Hund für uns überhaupt?"),
        ("de", "Heiraten?"),
        ("en", "Should we get married next year?"),
        ("en", "Is it worth buying a flat right now?"),
        ("en", "Moving house?"),
    ],
)
def test_a_deliberating_question_states_no_life_event(events, language, text):
    assert events(("customer", text), language=language) == set()


@pytest.mark.parametrize(
    "language, text, expected",
    [
        ("de", "Wir sind letzte Woche umgezogen, muss ich die Adresse extra ändern?", {"moving"}),
        ("de", "Muss ich Ihnen die neue Adresse schicken?", {"moving"}),
        ("en", "We've just moved, do I need to update my address?", {"moving"}),
        ("en", "We're off to Spain in May for three weeks.", {"travel_abroad"}),
        ("de", "Wir ziehen im März nach Köln um.", {"moving"}),
    ],
)
def test_statements_and_practical_questions_still_count(events, language, text, expected):
    assert events(("customer", text), language=language) == expected


@pytest.mark.parametrize(
    "language, agent, customer",
    [
        ("de", "Dann empfehle ich Ihnen unsere Auslandsreisekrankenversicherung für Ihre Reise.", "Ja, schicken Sie mir das."),
        ("de", "Viele Kunden, die umziehen, nehmen unsere Hausratversicherung dazu.", "Ja, gern."),
        ("en", "Many customers who move take our contents insurance as well.", "Yes please."),
        ("en", "I'd recommend our travel cover for trips abroad.", "Yeah, send it over."),
    ],
)
def test_saying_yes_to_an_offer_confirms_no_life_event(events, language, agent, customer):
    assert events(("agent", agent), ("customer", customer), language=language) == set()


@pytest.mark.parametrize(
    "language, agent, customer, expected",
    [
        ("de", "Sind Sie in letzter Zeit umgezogen?", "Ja, genau.", {"moving"}),
        ("en", "Are you starting a new job?", "Yes, exactly.", {"new_job"}),
    ],
)
def test_confirming_the_agents_question_still_counts(events, language, agent, customer, expected):
    assert events(("agent", agent), ("customer", customer), language=language) == expected


@pytest.mark.parametrize(
    "language, text, expected",
    [
        ("de", "Viele Kunden, die gerade ein Baby bekommen haben oder umgezogen sind, fragen nach unserer Hausratversicherung.", set()),
        ("en", "Many of our customers who just got married ask about our life cover.", set()),
        ("de", "Wir sind letzte Woche umgezogen.", {"moving"}),
        ("en", "We got married in June.", {"marriage"}),
    ],
)
def test_an_unlabelled_speaker_talking_as_an_agent_gives_no_life_event(events, language, text, expected):
    assert events(("unknown", text), language=language) == expected


@pytest.fixture(scope="module")
def holdings():
    extractor = Extractor(encoder=HashingEncoder())
    catalogue = load_catalogue(CATALOGUE)

    def found(*turns: tuple[str, str], language: str) -> dict[str, set[str]]:
        transcript = Transcript([Segment(role, text, float(i), i + 0.5) for i, (role, text) in enumerate(turns)], language)
        signals = extractor.extract(transcript, catalogue)
        return {kind: {s.label for s in signals if s.kind == kind} for kind in ("declined", "already_has")}

    return found


@pytest.mark.parametrize(
    "text, product",
    [
        ("Die Hausrat hamma scho lang.", "hausrat"),
        ("A Haftpflicht homma, passt scho.", "haftpflicht"),
        ("Die Gebäudeversicherung hämmer bei Eich.", "wohngebaeude"),
        ("D'Hausratversicherung hend mir au.", "hausrat"),
    ],
)
def test_regional_forms_of_haben_say_the_customer_has_it(holdings, text, product):
    assert product in holdings(("customer", text), language="de")["already_has"]


@pytest.mark.parametrize(
    "language, text, product",
    [
        ("de", "Eine Autofinanzierung wollen wir keine.", "autokredit"),
        ("de", "Ein Fondsdepot mag ich nicht.", "geldanlage"),
        ("de", "Keine Autofinanzierung, bitte.", "autokredit"),
        ("en", "I don't like car loans.", "autokredit"),
        ("en", "I don't fancy a credit card.", "kreditkarte"),
        ("en", "No car loan.", "autokredit"),
    ],
)
def test_a_negated_wish_or_a_bare_no_declines_the_named_product(holdings, language, text, product):
    assert product in holdings(("customer", text), language=language)["declined"]


@pytest.mark.parametrize(
    "language, text, product",
    [
        ("en", "I know you will call me about investments. Please, no.", "geldanlage"),
        ("de", "Sie wollen mir sicher ein Fondsdepot verkaufen. Bitte nicht.", "geldanlage"),
        ("en", "Your colleague mentioned a credit card. No thanks.", "kreditkarte"),
    ],
)
def test_a_short_refusal_after_a_named_product_declines_it(holdings, language, text, product):
    assert product in holdings(("customer", text), language=language)["declined"]


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "I don't have a car loan."),
        ("de", "Wir haben keine Hausratversicherung."),
        ("de", "Keine Kreditkarte?"),
        ("de", "I hätt a Frage zu meiner Kreditkarte."),
        ("de", "I hob neilich an Brief von der Rentenversicherung kriagt."),
    ],
)
def test_not_having_asking_or_a_regional_auxiliary_neither_declines_nor_holds(holdings, language, text):
    assert holdings(("customer", text), language=language) == {"declined": set(), "already_has": set()}


@pytest.mark.parametrize(
    "language, text",
    [
        ("de", "Nachwuchs steht bei uns im Moment überhaupt nicht auf dem Plan."),
        ("de", "Ich bin jetzt seit elf Jahren in Rente und schau mir gern meine Konten online an."),
        ("de", "Meine Schwester hat im Sommer geheiratet und braucht jetzt eine Versicherung."),
        ("en", "A baby is not on the cards for us at the moment."),
        ("en", "I've been retired for eleven years and I check my accounts online every day."),
        ("en", "The wedding was called off, so we won't need anything for that now."),
    ],
)
def test_a_need_told_through_an_event_that_does_not_count_is_no_need_candidate(language, text):
    from callscout.extract.needs import need_candidates
    from callscout.extract.rules import load_rules

    turns = Extractor(encoder=HashingEncoder()).turns(Transcript([Segment("customer", text)], language), language)
    assert need_candidates(turns)[0]  # without the check the sentence would be scored
    assert need_candidates(turns, load_rules(language)) == ([], [])


def test_sentences_either_side_of_a_dropped_one_are_not_scored_as_neighbours():
    from callscout.extract.needs import need_candidates
    from callscout.extract.rules import load_rules

    text = ("Ich würde gern jeden Monat etwas für meinen Enkel zurücklegen. Ich hab 1985 geheiratet, lange her. "
            "Mein Konto läuft schon ewig bei Ihnen hier in der Filiale.")
    turns = Extractor(encoder=HashingEncoder()).turns(Transcript([Segment("customer", text)], "de"), "de")
    _, candidates = need_candidates(turns, load_rules("de"))
    assert all(len(c.rows) == 1 for c in candidates if "Enkel" in c.text and "Konto" in c.text)
    assert not any("Enkel" in c.text and "Konto" in c.text for c in candidates)


@pytest.mark.parametrize(
    "language, text",
    [
        ("de", "nee nicht mehr die alte karte ist letztes jahr ausgelaufen eine neue kreditkarte brauch ich wohl wieder"),
        ("en", "yeah i'll need a credit card my old one won't work abroad anyway"),
    ],
)
def test_a_negation_far_from_the_wish_declines_nothing(holdings, language, text):
    assert "kreditkarte" not in holdings(("customer", text), language=language)["declined"]


@pytest.mark.parametrize(
    "text, product",
    [
        ("A Haftpflicht homma gar koane.", "haftpflicht"),
        ("Hausrat hob i koane.", "hausrat"),
        ("Eine Hausratversicherung hamma ned.", "hausrat"),
    ],
)
def test_regional_negations_say_the_customer_has_none(holdings, text, product):
    assert product not in holdings(("customer", text), language="de")["already_has"]


@pytest.mark.parametrize(
    "language, text, owned",
    [
        ("en", "I have a question about the credit card offer on your website.", False),
        ("de", "Ich hätte eine Frage zur Kreditkarte, die Sie bewerben.", False),
        ("en", "I have a question about my credit card.", True),
        ("de", "Ich hab ne Frage zu meiner Kreditkarte.", True),
    ],
)
def test_a_question_about_a_product_is_not_having_it_unless_it_is_mine(language, text, owned):
    extractor = Extractor(encoder=HashingEncoder())
    signals = extractor.extract(Transcript([Segment("customer", text, 0.0, 1.0)], language), load_catalogue(CATALOGUE))
    found = {(s.kind, s.label) for s in signals}
    assert ("already_has", "kreditkarte") not in found
    assert (("owned", "kreditkarte") in found) is owned


@pytest.mark.parametrize(
    "language, text, product",
    [
        ("de", "Haftpflicht hatte ich bisher über meine Eltern.", "haftpflicht"),
        ("de", "Die Hausratversicherung ist letztes Jahr ausgelaufen.", "hausrat"),
        ("en", "I used to have a credit card with you.", "kreditkarte"),
        ("en", "My car insurance ran out last month.", "kfz"),
    ],
)
def test_possession_that_is_over_is_not_already_having_it(holdings, language, text, product):
    assert product not in holdings(("customer", text), language=language)["already_has"]


@pytest.mark.parametrize(
    "agent, customer, has_it",
    [
        ("And what about your belongings?", "We've got a policy with you for those already.", True),
        ("And what about your belongings?", "Already sorted, thanks.", True),
        ("And what about your belongings?", "Oh, and my sister is already crying about the move, it's a whole thing.", False),
    ],
)
def test_already_says_have_it_only_in_a_reply_about_having_it(holdings, agent, customer, has_it):
    assert ("hausrat" in holdings(("agent", agent), ("customer", customer), language="en")["already_has"]) is has_it


@pytest.mark.parametrize(
    "customer, declined",
    [
        ("Wenn meinem Mann was zustößt, stehen wir ohne alles da.", False),
        ("Dann lieber ohne.", True),
    ],
)
def test_ohne_alone_is_no_decline(holdings, customer, declined):
    agent = "Wir hätten dafür auch eine Risikolebensversicherung für Sie."
    assert ("risikoleben" in holdings(("agent", agent), ("customer", customer), language="de")["declined"]) is declined


def test_a_no_to_several_offers_attaches_to_the_one_the_reply_names(holdings):
    agent = "With the car insurance we also offer a travel health insurance for your trips."
    assert holdings(("agent", agent), ("customer", "Travel we don't need."), language="en")["declined"] == {"auslandskranken"}


@pytest.mark.parametrize(
    "language, text, sensitive",
    [
        ("de", "Mit meinem Bandscheibenvorfall nehmen die mich doch eh nicht.", True),
        ("de", "Seit der Knie-OP bin ich krankgeschrieben.", True),
        ("de", "Mein Mann ist Diabetiker, das macht alles kompliziert.", True),
        ("en", "I broke my leg skiing in February.", True),
        ("en", "I've been signed off sick for a month.", True),
        ("en", "My wife has arthritis, so the stairs are hard.", True),
        ("en", "The screen on my phone is broken.", False),
        ("de", "Der Bildschirm ist gebrochen, also das Glas.", False),
    ],
)
def test_named_diagnoses_and_injuries_are_sensitive(language, text, sensitive):
    extractor = Extractor(encoder=HashingEncoder())
    signals = extractor.extract(Transcript([Segment("customer", text, 0.0, 1.0)], language), load_catalogue(CATALOGUE))
    assert any(s.kind == "sensitive" and s.label == "health" for s in signals) is sensitive


@pytest.mark.parametrize(
    "language, text, attribute, value",
    [
        ("de", "Sollen wir dieses Jahr noch umziehen?", "act", "question"),
        ("en", "Is it worth getting a dog now?", "act", "question"),
        ("de", "Viele unserer Kunden nehmen die Hausrat gleich mit.", "act", "offer"),
        ("en", "I'd recommend our contents cover for the new flat.", "act", "offer"),
        ("de", "Ein Umzug kommt für uns gerade nicht in Frage.", "polarity", "negated"),
        ("en", "We're not moving anywhere this year.", "polarity", "negated"),
        ("de", "Meine Schwester zieht nach Hamburg.", "holder", "third_party"),
        ("en", "My neighbour just bought a new car.", "holder", "third_party"),
        ("de", "Geheiratet haben wir schon vor Jahren.", "time", "long_ago"),
        ("en", "The move's been called off.", "time", "called_off"),
        ("de", "Vielleicht kaufen wir irgendwann ein Haus.", "time", "vague"),
        ("en", "If the sale goes through, we move in May.", "time", "conditional"),
    ],
)
def test_the_statement_record_names_each_attribute(language, text, attribute, value):
    from callscout.extract.rules import load_rules
    from callscout.extract.statements import analyse

    (turn,) = Extractor(encoder=HashingEncoder()).turns(Transcript([Segment("customer", text)], language), language)
    statement = analyse(turn.views[0], load_rules(language))
    assert getattr(statement, attribute) == value
    assert not statement.states


@pytest.mark.parametrize(
    "language, text",
    [("de", "Wir ziehen im März nach Köln."), ("en", "We got a puppy last week."), ("de", "Ich fange im April bei einer neuen Firma an.")],
)
def test_a_plain_current_statement_of_ones_own_states(language, text):
    from callscout.extract.rules import load_rules
    from callscout.extract.statements import analyse

    (turn,) = Extractor(encoder=HashingEncoder()).turns(Transcript([Segment("customer", text)], language), language)
    assert analyse(turn.views[0], load_rules(language)).states


@pytest.mark.parametrize(
    "language, turns, expected",
    [
        ("de", [("agent", "Sind Sie in letzter Zeit umgezogen?"), ("customer", "Moment, da klingelt es gerade an der Tür."),
                ("agent", "Kein Problem, ich warte."), ("customer", "Ja, genau, letzte Woche.")], {"moving"}),
        ("en", [("agent", "Is there a little one on the way?"), ("customer", "Sorry, hang on, the dog is barking at the postman."),
                ("agent", "No worries."), ("customer", "Yes. End of February, actually.")], {"new_child"}),
        ("en", [("agent", "Are you moving house?"), ("customer", "No."), ("agent", "Okay, thanks."),
                ("customer", "Yes, that's fine.")], set()),
    ],
)
def test_a_yes_after_an_aside_answers_the_question_before_it(events, language, turns, expected):
    assert events(*turns, language=language) == expected


@pytest.mark.parametrize(
    "language, agent, customer, expected",
    [
        ("de", "Sind Sie umgezogen?", "Genau deswegen rufe ich an.", {"moving"}),
        ("de", "Haben Sie geheiratet?", "Das ist auch der Grund für meinen Anruf.", {"marriage"}),
        ("en", "Are you moving house?", "That's why I'm calling, actually.", {"moving"}),
        ("en", "Did you get married?", "That is the reason I rang.", {"marriage"}),
    ],
)
def test_that_is_why_confirms_the_agents_question(events, language, agent, customer, expected):
    assert events(("agent", agent), ("customer", customer), language=language) == expected


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "We've got a little one on the way, due in March."),
        ("en", "Number two is on the way, so we need a bigger car."),
        ("de", "Bei uns ist ein Kind unterwegs, Ende Mai ist es so weit."),
        ("de", "Das Zweite ist schon unterwegs."),
    ],
)
def test_a_child_on_the_way_is_a_new_child(events, language, text):
    assert events(("customer", text), language=language) == {"new_child"}


@pytest.mark.parametrize(
    "language, text",
    [
        ("de", "Das zweite Paket ist schon unterwegs, sagt die Sendungsverfolgung."),
        ("de", "Die Ersatzkarte ist unterwegs."),
        ("en", "Your replacement is on the way, the courier said."),
        ("en", "Another one is on the way from the warehouse."),
    ],
)
def test_a_parcel_on_the_way_is_no_child(events, language, text):
    assert events(("customer", text), language=language) == set()


@pytest.mark.parametrize(
    "language, text, expected",
    [
        ("de", "Der Schrank ist gestern ins Kinderzimmer umgezogen.", set()),
        ("de", "Das Arbeitszimmer ist in den Keller umgezogen.", set()),
        ("en", "The telly moved into the bedroom last week.", set()),
        ("en", "Our router has moved to the hallway.", set()),
        ("de", "Wir sind letzte Woche umgezogen.", {"moving"}),
        ("en", "We moved last week.", {"moving"}),
    ],
)
def test_a_thing_that_moved_is_no_move_of_the_household(events, language, text, expected):
    assert events(("customer", text), language=language) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Ausziehen musste er, nicht ich.", set()),
        ("Heiraten will er im Sommer, mein Bruder ist ganz aufgeregt.", set()),
        ("Die Kinder und ich sind letzte Woche umgezogen.", {"moving"}),
        ("Umziehen müssen wir im Mai.", {"moving"}),
    ],
)
def test_a_third_party_subject_after_the_verb_is_someone_elses_event(events, text, expected):
    assert events(("customer", text), language="de") == expected


@pytest.mark.parametrize("text", ["Nee, die Kreditkarte skippen wir.", "Die Kreditkarte lassen wir weg.", "Die Kreditkarte streichen wir."])
def test_leaving_a_product_out_declines_it(holdings, text):
    assert "kreditkarte" in holdings(("customer", text), language="de")["declined"]


@pytest.mark.parametrize(
    "language, text, expected",
    [
        ("en", "My spouse was born and raised in Ohio.", set()),
        ("en", "I was born in Leeds, so the accent's real.", set()),
        ("de", "Ich bin in Danzig geboren, deshalb der Name.", set()),
        ("de", "Meine Frau ist geboren und aufgewachsen in Kiel.", set()),
        ("en", "Our daughter was born three weeks ago.", {"new_child"}),
        ("de", "Unser Sohn ist letzte Woche geboren.", {"new_child"}),
        ("en", "All the factory jobs are going overseas these days.", set()),
        ("de", "Die ganzen Arbeitsplätze gehen ins Ausland.", set()),
        ("en", "We're going abroad for a month in June.", {"travel_abroad"}),
    ],
)
def test_words_read_in_their_context(events, language, text, expected):
    assert events(("customer", text), language=language) == expected
