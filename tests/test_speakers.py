import pytest

from callscout.inputs.speakers import DEFAULT_ROLES, role_for

AGENT_LABELS = [
    "Berater", "Beraterin", "Mitarbeiter", "Mitarbeiterin", "Kundenberater", "Kundenberaterin",
    "Verkäufer", "Verkäuferin", "Agent", "Rep", "Advisor", "Sales",
]  # fmt: skip
CUSTOMER_LABELS = ["Kunde", "Kundin", "Customer", "Client", "Caller"]


@pytest.mark.parametrize("label", AGENT_LABELS)
def test_agent_labels(label):
    assert role_for(label) == "agent"


@pytest.mark.parametrize("label", CUSTOMER_LABELS)
def test_customer_labels(label):
    assert role_for(label) == "customer"


def test_default_roles_keys_are_lower_case_and_complete():
    assert all(key == key.lower() for key in DEFAULT_ROLES)
    assert len(DEFAULT_ROLES) == len(AGENT_LABELS) + len(CUSTOMER_LABELS)
    assert set(DEFAULT_ROLES.values()) == {"agent", "customer"}


@pytest.mark.parametrize("label", ["KUNDE", "kunde", "  Kunde  ", "VERKÄUFERIN", "aGeNt"])
def test_case_and_whitespace_insensitive(label):
    assert role_for(label) != "unknown"


@pytest.mark.parametrize(
    ("label", "role"),
    [
        ("Agent 1", "agent"),
        ("Kunde (Herr Maier)", "customer"),
        ("Beraterin Frau Schulz", "agent"),
        ("Customer-2", "customer"),
        ("(Kundin)", "customer"),
    ],
)
def test_first_word_decides(label, role):
    assert role_for(label) == role


@pytest.mark.parametrize("label", ["", "   ", "SPEAKER_00", "Anna Schmidt", "Kundenservice", "42", "Agentur"])
def test_unknown_labels(label):
    assert role_for(label) == "unknown"


def test_overrides_win_over_defaults():
    assert role_for("Kunde", {"kunde": "agent"}) == "agent"


def test_overrides_add_labels_case_insensitively():
    overrides = {"SPEAKER_00": "agent", "Anna Schmidt": "customer"}
    assert role_for("speaker_00", overrides) == "agent"
    assert role_for("ANNA  SCHMIDT", overrides) == "customer"
    assert role_for("Anna", overrides) == "unknown"


def test_overrides_apply_to_first_word():
    assert role_for("Hotline 2", {"hotline": "agent"}) == "agent"


def test_whole_label_override_beats_first_word():
    assert role_for("Kunde Service", {"kunde service": "agent"}) == "agent"


def test_overrides_do_not_change_defaults():
    role_for("Kunde", {"kunde": "agent"})
    assert role_for("Kunde") == "customer"
    assert DEFAULT_ROLES["kunde"] == "customer"
