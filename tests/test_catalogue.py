import textwrap

import pytest

from callscout.catalogue import CatalogueError, load_catalogue, load_catalogues

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
    catalogues = load_catalogues(shared_dir / "catalogues")
    assert set(catalogues) == {"finanz", "technik"}
    finanz = catalogues["finanz"]
    assert finanz.policy.max_opportunities_per_call == 4
    assert finanz.product("hausrat").life_events == ("moving", "home_purchase", "marriage")
    technik = catalogues["technik"]
    assert [p.id for p in technik.complemented_by("smartphone")][:3] == ["handyhuelle", "kopfhoerer", "ladegeraet"]
    assert not technik.product("smartphone").has_triggers


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
         "product 'case', field 'triggers.upsell': unknown trigger"),
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
