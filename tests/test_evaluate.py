from __future__ import annotations

import json
from pathlib import Path

from callscout.evaluate import Counts, evaluate_file, expected_opportunities, load_gold
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
    from callscout.catalogue import load_catalogues

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
