"""YAML through libyaml's C parser reads every shipped file as PyYAML's own safe parser does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from callscout import yamlfile

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted([*(ROOT / "src" / "callscout" / "data").rglob("*.yaml"), *(ROOT / "fixtures").rglob("*.yaml")])


def test_the_c_parser_is_used_where_pyyaml_has_it():
    assert yamlfile.SafeLoader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert yamlfile.SafeLoader.__name__ == "CSafeLoader"  # PyYAML's wheels carry libyaml


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_yaml_file_reads_as_with_the_pure_python_parser(path):
    text = path.read_text(encoding="utf-8")
    assert yamlfile.safe_load(text) == yaml.safe_load(text)


def test_unsafe_tags_are_refused_as_by_safe_load():
    with pytest.raises(yaml.YAMLError):
        yamlfile.safe_load("!!python/object/apply:os.system ['echo pwned']")
