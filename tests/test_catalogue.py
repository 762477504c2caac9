import subprocess
import sys
import textwrap

import pytest

from callscout.match.catalogue import CatalogueError, load_catalogue, load_catalogues
from tests.conftest import FIXTURES

VALID = """
catalogue: demo
language: de
policy:
  max_opportunities_per_call: 2
products:
  - id: phone
    name: Smartphone
    aliases: [Handy]
  - id: case
    name: Hülle
    triggers:
      complements: [phone]
      life_events: [moving]
      needs: [Mir ist das Handy runtergefallen]
    pitch: Eine Hülle schützt.
"""


def write(tmp_path, text, name="cat.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shared_catalogues_load_unchanged(shared_dir):
    paths = sorted((shared_dir / "catalogues").glob("*.y*ml"))
    assert paths
    names = [load_catalogue(path).name for path in paths]  # each refusal names its own file
    assert len(set(names)) == len(names)
    assert set(load_catalogues(shared_dir / "catalogues")) == set(names)


def test_fixture_catalogues():
    catalogues = load_catalogues(FIXTURES / "catalogues")
    assert set(catalogues) == {"finanz", "technik", "telko"}
    finanz = catalogues["finanz"]
    assert finanz.policy.max_opportunities_per_call == 4
    assert finanz.product("hausrat").life_events == ("moving", "home_purchase", "marriage")
    technik = catalogues["technik"]
    assert [p.id for p in technik.complemented_by("smartphone")][:3] == ["handyhuelle", "kopfhoerer", "ladegeraet"]
    assert not technik.product("smartphone").has_triggers
    assert catalogues["telko"].product("handyversicherung").complements == ("smartphone_ratenkauf",)


def test_valid_catalogue(tmp_path):
    catalogue = load_catalogue(write(tmp_path, VALID))
    assert catalogue.name == "demo"
    assert catalogue.policy.max_opportunities_per_call == 2
    case = catalogue.product("case")
    assert case.complements == ("phone",)
    assert case.names == ("Hülle",)
    assert catalogue.product("phone").names == ("Smartphone", "Handy")


@pytest.mark.parametrize(
    "broken, message",
    [
        (VALID.replace("life_events: [moving]", "life_events: [moon_landing]"),
         "product 'case', field 'triggers.life_events': unknown life event id 'moon_landing'"),
        (VALID.replace("id: case", "id: phone"), "product 'phone', field 'id': duplicate product id"),
        (VALID.replace("complements: [phone]", "complements: [tablet]"),
         "product 'case', field 'triggers.complements': 'tablet' names no product in the catalogue"),
        (VALID.replace("id: case", "id: Case-1"), "product #2, field 'id': missing or not a slug of [a-z0-9_]"),
        (VALID.replace("    name: Hülle\n", ""), "product 'case', field 'name': missing or not a string"),
        (VALID.replace("needs: [Mir ist das Handy runtergefallen]", "needs: oops"),
         "product 'case', field 'triggers.needs': expected a list of non-empty strings"),
        (VALID.replace("max_opportunities_per_call: 2", "max_opportunities_per_call: 0"),
         "policy field 'max_opportunities_per_call': must be a whole number >= 1"),
        (VALID.replace("complements: [phone]", "upsell: [phone]"),
         "product 'case', field 'triggers.upsell': unknown trigger (known: life_events, needs, complements)"),
        ("catalogue: x\nproducts: []\n", "field 'products': missing or not a non-empty list"),
        (VALID.replace("max_opportunities_per_call: 2", "max_open_per_customer: 0"),
         "policy field 'max_open_per_customer': must be a whole number >= 1"),
        (VALID.replace("max_opportunities_per_call: 2", "decline_cooldown_days: -1"),
         "policy field 'decline_cooldown_days': must be a whole number >= 0"),
        (VALID.replace("max_opportunities_per_call: 2", "decline_cooldown_days: 1.5"),
         "policy field 'decline_cooldown_days': must be a whole number >= 0"),
        (VALID.replace("    pitch: Eine Hülle schützt.", "    pitch: x\n    pitches: [{id: a, text: y}]"),
         "product 'case', field 'pitches': give either 'pitch' or 'pitches', not both"),
        (VALID.replace("    pitch: Eine Hülle schützt.", "    pitches: [{id: a, text: x}, {id: a, text: y}]"),
         "product 'case', field 'pitches' #2: duplicate pitch id 'a'"),
        (VALID.replace("    pitch: Eine Hülle schützt.", "    pitches: [{id: a, text: ''}]"),
         "product 'case', field 'pitches' #1: 'text' missing or empty"),
        (VALID.replace("    pitch: Eine Hülle schützt.", "    pitches: [{id: 'a b', text: x}]"),
         "product 'case', field 'pitches' #1: 'id' missing or not a slug"),
        (VALID.replace("    pitch: Eine Hülle schützt.", "    pitches: []"),
         "product 'case', field 'pitches': expected a non-empty list of {id, text}"),
        ("products: [", "not valid YAML"),
    ],
)
def test_broken_catalogue_names_file_product_and_field(tmp_path, broken, message):
    path = write(tmp_path, broken)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "broken, message",
    [
        (VALID.replace("catalogue: demo", "catalog: demo"), "field 'catalog': unknown key (did you mean 'catalogue'?)"),
        (VALID + "version: 2\n", "field 'version': unknown key (known: catalogue, language, policy, products)"),
        (VALID.replace("max_opportunities_per_call: 2", "max_opportunities: 2"),
         "policy field 'max_opportunities': unknown key (did you mean 'max_opportunities_per_call'?)"),
        (VALID.replace("    triggers:", "    trigger:"), "product 'case', field 'trigger': unknown key (did you mean 'triggers'?)"),
        (VALID.replace("  - id: case", "  - Id: case"), "product #2, field 'Id': unknown key (did you mean 'id'?)"),
        (VALID.replace("    aliases: [Handy]", "    colour: red"),
         "product 'phone', field 'colour': unknown key (known: id, name, category, aliases, triggers, pitch, pitches)"),
        (VALID.replace("      needs:", "      need:"),
         "product 'case', field 'triggers.need': unknown trigger (did you mean 'needs'?)"),
        (VALID.replace("    pitch: Eine Hülle schützt.", "    pitches: [{id: a, txt: x}]"),
         "product 'case', field 'pitches' #1: unknown key 'txt' (did you mean 'text'?)"),
        (VALID.replace("life_events: [moving]", "life_events: [moving, hous_purchase]"),
         "product 'case', field 'triggers.life_events': unknown life event id 'hous_purchase' (did you mean 'home_purchase'?)"),
        (VALID.replace("life_events: [moving]", "life_events: [moon_landing]"),
         "product 'case', field 'triggers.life_events': unknown life event id 'moon_landing' (known: marriage, separation, "
         "new_child, moving, home_purchase, renovation, new_job, self_employment, retirement, vehicle_purchase, "
         "education_start, travel_abroad, inheritance, new_pet)"),
    ],
)
def test_unknown_key_is_refused_with_a_suggestion(tmp_path, broken, message):
    path = write(tmp_path, broken)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert str(info.value) == f"{path}: {message}"


def test_cli_check_refuses_a_misspelt_key(tmp_path):
    write(tmp_path, VALID.replace("    triggers:", "    trigger:"), name="bad.yaml")
    result = subprocess.run([sys.executable, "-m", "callscout", "catalogue", "check", "bad.yaml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: bad.yaml: product 'case', field 'trigger': unknown key (did you mean 'triggers'?)\n"


def test_policy_defaults_and_contact_keys(tmp_path):
    catalogue = load_catalogue(write(tmp_path, VALID))
    assert (catalogue.policy.decline_cooldown_days, catalogue.policy.max_open_per_customer) == (90, 3)
    text = VALID.replace("max_opportunities_per_call: 2", "decline_cooldown_days: 30\n  max_open_per_customer: 5")
    policy = load_catalogue(write(tmp_path, text)).policy
    assert (policy.decline_cooldown_days, policy.max_open_per_customer, policy.max_opportunities_per_call) == (30, 5, 4)


def test_pitch_variants(tmp_path):
    text = VALID.replace(
        "    pitch: Eine Hülle schützt.",
        "    pitches:\n      - {id: schutz, text: Eine Hülle schützt.}\n      - {id: stil, text: ' Passt zu Ihrem Stil. '}",
    )
    case = load_catalogue(write(tmp_path, text)).product("case")
    assert [(p.id, p.text) for p in case.pitches] == [("schutz", "Eine Hülle schützt."), ("stil", "Passt zu Ihrem Stil.")]
    assert case.pitch == "Eine Hülle schützt."
    single = load_catalogue(write(tmp_path, VALID)).product("case")
    assert [(p.id, p.text) for p in single.pitches] == [("default", "Eine Hülle schützt.")]
    assert load_catalogue(write(tmp_path, VALID)).product("phone").pitches == ()


def test_missing_catalogue_file(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read catalogue"):
        load_catalogue(tmp_path / "nope.yaml")
