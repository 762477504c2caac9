from __future__ import annotations

import json
from pathlib import Path

from callscout.evaluation.quality import Counts, evaluate_file, expected_opportunities, load_gold
from callscout.extract import Extractor, HashingEncoder

SHARED = Path(__file__).resolve().parents[2] / "shared"


def write_gold(tmp_path: Path) -> Path:
    calls = [
        {"id": "a", "language": "de", "catalogue": "finanz",
         "turns": [["agent", "Was kann ich tun?"], ["customer", "Wir ziehen im März um. Eine Haftpflicht haben wir schon."]],
         "life_events": ["moving"], "need_products": [], "owned": [], "suppressed": ["haftpflicht"], "distractors": []},
        {"id": "b", "language": "en", "catalogue": "technik",
         "turns": [["agent", "Hi"], ["customer", "I bought a laptop from you yesterday."]],
         "life_events": [], "need_products": [], "owned": ["laptop"], "suppressed": [], "distractors": []},
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in calls), encoding="utf-8")
    return path


def test_counts():
    counts = Counts()
    counts.add({"a", "b"}, {"b", "c"})
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1) and counts.f1 == 0.5


def test_expected_opportunities(tmp_path):
    from callscout.match.catalogue import load_catalogues

    catalogues = load_catalogues(SHARED / "catalogues")
    first, second = load_gold(write_gold(tmp_path))
    assert expected_opportunities(first, catalogues["finanz"]) == {"hausrat"}
    assert expected_opportunities(second, catalogues["technik"]) == {"ladegeraet", "maus", "tastatur", "laptoptasche"}


def test_evaluate_file_report(tmp_path):
    report = evaluate_file(write_gold(tmp_path), SHARED / "catalogues", Extractor(encoder=HashingEncoder()))
    data = report.to_dict()
    json.dumps(data)
    assert data["calls"] == 2 and set(data["by_language"]) == {"de", "en"}
    assert data["opportunities"]["recall"] == 1.0 and data["suppressed_offered"] == 0
    assert "opportunities" in report.render()


# --- split rule ---------------------------------------------------------------------------------


def test_split_rule_is_pinned():
    from callscout.evaluation.quality import split_of

    # first hex digit of sha256(id): e, 4 -> tuning; f, 7, b -> held-out
    assert [split_of(i) for i in ("d-de-finanz-001", "d-en-finanz-004")] == ["tuning", "tuning"]
    assert [split_of(i) for i in ("d2a-de-finanz-001", "d2a-en-telko-006", "d2b-en-finanz-052")] == ["held-out"] * 3


def test_split_halves_the_dev_calls():
    import pytest

    from callscout.evaluation.quality import load_gold_files, split_of

    files = [SHARED / "eval" / name for name in ("dev_calls.jsonl", "dev2_calls_a.jsonl", "dev2_calls_b.jsonl")]
    if not all(f.exists() for f in files):
        pytest.skip("shared dev sets not present")
    halves = [split_of(call.id) for call in load_gold_files(files)]
    assert len(halves) == 164 and (halves.count("tuning"), halves.count("held-out")) == (84, 80)


def test_gold_files_refuse_a_repeated_call_id(tmp_path):
    import pytest

    from callscout.evaluation.quality import load_gold_files

    path = write_gold(tmp_path)
    with pytest.raises(ValueError, match="appears twice"):
        load_gold_files([path, path])


# --- error classes ------------------------------------------------------------------------------


class KeywordExtractor:
    """A stand-in for ``Extractor``: one signal per keyword in a turn that is not the agent's,
    with the turn as evidence. Deterministic, so each gold call below makes one error class."""

    KEYWORDS = {
        "ziehen": ("life_event", "moving"), "move": ("life_event", "moving"),
        "married": ("life_event", "marriage"), "hochzeit": ("life_event", "marriage"),
        "travelling": ("life_event", "travel_abroad"), "babyphone": ("owned", "smartphone"),
        "hausrat haben wir": ("already_has", "haftpflicht"), "music": ("need", "kopfhoerer"),
    }

    def __init__(self):
        from types import SimpleNamespace

        self.encoder = SimpleNamespace(name="keywords")

    def extract(self, transcript, catalogue):
        from callscout.records import Signal

        return [
            Signal(kind, label, segment.text, segment.speaker, None, None, 0.9, index)
            for index, segment in enumerate(transcript.segments) if segment.speaker != "agent"
            for keyword, (kind, label) in self.KEYWORDS.items() if keyword in segment.text.lower()
        ]


def gold_call(call_id, language, catalogue, customer, speaker="customer", **gold):
    from callscout.evaluation.quality import GoldCall

    return GoldCall(call_id, language, catalogue, [("agent", "Hello."), (speaker, customer)], **gold)


ERROR_CASES = [
    # (gold call, the one class each of its misses falls in)
    (gold_call("missed", "de", "finanz", "Ich fange im Mai eine neue Stelle an.", life_events=["new_job"]), "missed"),
    (gold_call("question", "en", "finanz", "Should we move house one of these years?"), "question_counted"),
    (gold_call("negation", "de", "finanz", "Wir ziehen nicht um."), "negation"),
    (gold_call("holder", "en", "finanz", "My sister is getting married in May."), "holder"),
    (gold_call("called_off", "de", "finanz", "Die Hochzeit war für September geplant, jetzt ist sie abgesagt."), "time"),
    (gold_call("long_ago", "en", "finanz", "We got married back in 1985."), "time"),
    (gold_call("other_owned", "de", "technik", "Ich hab ein Babyphone bestellt."), "wrong_product"),
    (gold_call("other_need", "en", "technik", "I listen to music all day.", need_products=["musik_premium"]), "wrong_product"),
    (gold_call("blocked", "de", "finanz", "Wir ziehen um, Hausrat haben wir schon.", life_events=["moving"]), "wrong_product"),
    (gold_call("unknown", "de", "finanz", "Wir ziehen im Mai um.", speaker="unknown"), "unlabelled_speaker"),
    (gold_call("suppressed", "de", "finanz", "Wir ziehen im Mai um.", life_events=["moving"], suppressed=["hausrat"]),
     "suppressed_offered"),
    (gold_call("other", "en", "finanz", "I adore travelling."), "other"),
]


def test_each_error_class_comes_from_its_gold_call():
    from callscout.evaluation.errors import ERROR_CLASSES
    from callscout.evaluation.quality import evaluate_calls
    from callscout.match.catalogue import load_catalogues

    report = evaluate_calls([call for call, _ in ERROR_CASES], load_catalogues(SHARED / "catalogues"), KeywordExtractor())
    found = {}
    for miss in report.misses:
        found.setdefault(miss.call_id, set()).add(miss.error_class)
    assert found == {call.id: {expected} for call, expected in ERROR_CASES}
    assert {expected for _, expected in ERROR_CASES} == set(ERROR_CLASSES)
    counts = report.error_classes()
    assert sum(counts.values()) == len(report.misses) and counts["suppressed_offered"] == report.suppressed_offered == 1
    by_language = report.error_classes_by_language()
    assert by_language["de"]["negation"] == 3 and by_language["en"]["negation"] == 0  # moving: two products + the event
    rendered = report.render()
    assert "misses by class:" in rendered and "  unlabelled_speaker (3):" in rendered
    json.dumps(report.to_dict())


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_prints_tuning_held_out_and_all(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from callscout.cli.commands import app

    monkeypatch.setenv("CALLSCOUT_ENCODER", "hashing")
    gold = write_gold(tmp_path)  # call "a" is in the tuning half, "b" held out
    second = tmp_path / "gold2.jsonl"
    second.write_text(json.dumps({"id": "c", "language": "en", "catalogue": "finanz",
                                  "turns": [["agent", "Hi"], ["customer", "We are moving in May."]],
                                  "life_events": ["moving"]}), encoding="utf-8")
    args = ["eval", str(gold), str(second), "--catalogues", str(SHARED / "catalogues")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "held-out" in line)
    assert header.split()[:3] == ["tuning", "held-out", "all"] and "gap (held-out - tuning)" in header
    calls = next(line for line in result.output.splitlines() if line.startswith("calls"))
    assert calls.split() == ["calls", "2", "1", "3"]
    for row in ("opportunity F1", "life-event F1", "suppressed offered", "sensitive offered", "errors: missed"):
        assert len(next(line for line in result.output.splitlines() if line.startswith(row)).split()) >= 5, row
    assert "language de opps" in result.output and "error class" in result.output

    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert set(data["splits"]) == {"tuning", "held-out", "all"} and data["splits"]["all"]["calls"] == 3
    assert set(data["gap"]) >= {"opportunity F1", "life-event F1", "suppressed offered"}
    held_out = json.loads(CliRunner().invoke(app, [*args, "--split", "held-out", "--json"]).output)
    assert held_out["calls"] == 1 and set(held_out["by_language"]) == {"en"}
    refused = CliRunner().invoke(app, [*args, "--split", "half"])
    assert refused.exit_code == 2
