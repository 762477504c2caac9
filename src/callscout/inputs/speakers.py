"""Map speaker labels from transcripts ("Beraterin", "Kunde (Herr Maier)", "Agent 1") to roles."""

from __future__ import annotations

import re

from callscout.records import AGENT, CUSTOMER, UNKNOWN

_AGENT_LABELS = (
    "berater", "beraterin", "mitarbeiter", "mitarbeiterin", "kundenberater", "kundenberaterin",
    "verkäufer", "verkäuferin", "agent", "rep", "advisor", "sales",
)  # fmt: skip
_CUSTOMER_LABELS = ("kunde", "kundin", "customer", "client", "caller")

DEFAULT_ROLES: dict[str, str] = {
    **{label: AGENT for label in _AGENT_LABELS},
    **{label: CUSTOMER for label in _CUSTOMER_LABELS},
}

_FIRST_WORD = re.compile(r"[^\W\d_]+")


def normalise_label(label: str) -> str:
    return " ".join(label.split()).casefold()


def first_word(label: str) -> str | None:
    match = _FIRST_WORD.search(label)
    return match.group(0).casefold() if match else None


def role_for(label: str, overrides: dict[str, str] | None = None) -> str:
    """The role for a speaker label; overrides (label -> role, from config) win over the defaults.

    Looks up the whole label first, then its first word, so "Agent 1" and "Kunde (Herr Maier)"
    map like "Agent" and "Kunde".
    """
    roles = {**DEFAULT_ROLES, **{normalise_label(k): v for k, v in (overrides or {}).items()}}
    whole = normalise_label(label)
    if whole in roles:
        return roles[whole]
    word = first_word(whole)
    if word is not None and word in roles:
        return roles[word]
    return UNKNOWN
