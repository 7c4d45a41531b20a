"""One source of truth for the builtin training keys: `TrainConfig` defines them;
config/schema.yaml's `definitions/builtin_train` must list the same keys with matching types,
so that a key added, renamed or retyped on one side fails here instead of at run time."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml

from video2mesh.recon.presets import (
    BACKGROUNDS,
    COLOR_DIRECTIONS,
    PRESETS,
    TrainConfig,
    config_keys,
)

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
JSON_TYPES = {int: "integer", float: "number", bool: "boolean", list[float]: "array"}


def _train_schema() -> dict[str, dict]:
    return yaml.safe_load(SCHEMA.read_text())["definitions"]["builtin_train"]["properties"]


def test_schema_lists_exactly_the_trainconfig_keys() -> None:
    schema = set(_train_schema())
    code = set(config_keys())
    assert not code - schema, f"in TrainConfig, not in config/schema.yaml: {sorted(code - schema)}"
    assert not schema - code, f"in config/schema.yaml, not in TrainConfig: {sorted(schema - code)}"


def test_schema_types_match_the_dataclass_fields() -> None:
    props = _train_schema()
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        kind = hints[f.name]
        if kind is str:  # string keys are enums ("" background = by scene type)
            allowed = {"background": {"", *BACKGROUNDS}, "color_direction": set(COLOR_DIRECTIONS)}
            assert set(props[f.name]["enum"]) == allowed[f.name], f.name
        else:
            assert props[f.name].get("type") == JSON_TYPES[kind], f.name


def test_presets_only_override_known_keys() -> None:
    for name, deltas in PRESETS.items():
        assert set(deltas) <= set(config_keys()), name


def test_every_schema_key_has_a_value() -> None:
    """A description with an unquoted comma in a YAML flow mapping is cut there, and the rest
    becomes a key of its own with no value (the config error for `type:` read "object =
    bounded"): no such key anywhere."""

    def stray(node: object, path: str) -> list[str]:
        found: list[str] = []
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if value is None:
                found.append(f"{path}/{key}")
            elif isinstance(value, dict | list):
                found += stray(value, f"{path}/{key}")
        return found

    assert stray(yaml.safe_load(SCHEMA.read_text()), "") == []
