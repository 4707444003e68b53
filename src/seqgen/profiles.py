"""Profiles: named sets of values for the knobs that differ between a quick and a full run, written into
params.yaml itself (`seqgen profile NAME`) rather than overlaid when a stage runs.

Why written in: DVC records in dvc.lock the params each stage reads from params.yaml. An overlay applied inside
the stages trained with values that dvc.lock never saw (the full-profile MLE trained a 6-layer encoder while the
lock said 3). With the values in the file, dvc.lock, `dvc params diff`, `dvc exp show` and the MLflow params all
show what trained each model; no stage depends on the table, so editing one task's row stales nothing.

The table, `profiles` in params.yaml, has one row per knob (a dotted key) and one column per profile:
`tasks.translation.model.encoder_layers: {default: 3, full: 6, tiny: 1}`. Every row names every profile, so any
profile can be written over any other and `seqgen profile default` always finds its way back.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from seqgen.config import DEFAULT_PARAMS
from seqgen.errors import ConfigError
from seqgen.io import atomic_path

TABLE = "profiles"  # the table of rows
SELECTED = "profile"  # the name of the profile last written into the file
CUSTOM = "custom"  # what current() says of values that match no profile


def table(params: dict[str, Any], path: Path = DEFAULT_PARAMS) -> dict[str, dict[str, Any]]:
    """The rows {dotted key: {profile: value}}, checked: every key exists in params, every row names the same profiles."""
    rows = params.get(TABLE)
    if not isinstance(rows, dict) or not rows:
        raise ConfigError(f"{path}: no '{TABLE}' table (rows like `tasks.translation.model.dropout: {{default: 0.1, full: 0.3}}`)")
    expected: list[str] | None = None
    for key, row in rows.items():
        if not isinstance(row, dict) or not row:
            raise ConfigError(f"{path}: {TABLE}.{key}: expected a mapping of profile name to value, got {row!r}")
        if any(isinstance(value, (dict, list)) for value in row.values()):
            raise ConfigError(f"{path}: {TABLE}.{key}: a row gives each profile one value (a number or a word), got {row!r}")
        if expected is None:
            expected = list(row)
        elif sorted(row) != sorted(expected):
            raise ConfigError(f"{path}: {TABLE}.{key}: names the profiles {sorted(row)}, the first row names {sorted(expected)} "
                              "(every row must give every profile a value)")
        _lookup(params, key, path)
    return rows


def names(params: dict[str, Any], path: Path = DEFAULT_PARAMS) -> list[str]:
    return list(next(iter(table(params, path).values())))


def values(params: dict[str, Any], name: str, path: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """{dotted key: value} of one profile."""
    rows = table(params, path)
    if name not in next(iter(rows.values())):
        raise ConfigError(f"{path}: no profile {name!r} in '{TABLE}' (have: {', '.join(names(params, path))})")
    return {key: row[name] for key, row in rows.items()}


def differences(params: dict[str, Any], name: str, path: Path = DEFAULT_PARAMS) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (value in the file, value of the profile)} where the two differ."""
    found = {}
    for key, value in values(params, name, path).items():
        parent, leaf = _lookup(params, key, path)
        if parent[leaf] != value or type(parent[leaf]) is not type(value):
            found[key] = (parent[leaf], value)
    return found


def current(params: dict[str, Any], path: Path = DEFAULT_PARAMS) -> str:
    """The profile whose values the file holds: the selected one if it still matches, else the first that does, else
    "custom" (a value was edited by hand or by `dvc exp run -S`)."""
    try:
        known = names(params, path)
        selected = params.get(SELECTED)
        return next((name for name in ([selected] if selected in known else []) + known if not differences(params, name, path)), CUSTOM)
    except ConfigError:  # params built in memory (tests, benchmarks) without the table or some of its keys
        return CUSTOM


def apply(params: dict[str, Any], name: str, path: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """A copy of params holding profile `name`'s values (for benchmarks and tests that work in memory)."""
    result = copy.deepcopy(params)
    for key, value in values(result, name, path).items():
        parent, leaf = _lookup(result, key, path)
        parent[leaf] = copy.deepcopy(value)
    result[SELECTED] = name
    return result


def write(name: str, path: Path = DEFAULT_PARAMS) -> dict[str, tuple[Any, Any]]:
    """Write profile `name`'s values into the params file and return what changed. Only the changed values' text
    is replaced (each copied as written in its row), so comments, alignment and every other byte stay as they are."""
    import yaml

    from seqgen.config import load_params

    params = load_params(path)
    changes = differences(params, name, path)
    text = Path(path).read_text(encoding="utf-8")
    document = yaml.compose(text)
    edits = [(_value_node(document, key), _source(text, _value_node(document, f"{TABLE}.{key}.{name}"))) for key in changes]
    if params.get(SELECTED) != name:
        edits.append((_value_node(document, SELECTED), name))
    for node, replacement in sorted(edits, key=lambda edit: edit[0].start_mark.index, reverse=True):
        text = _replace_keeping_comment_column(text, node.start_mark.index, node.end_mark.index, replacement)
    written = yaml.safe_load(text)
    if differences(written, name, path) or written.get(SELECTED) != name:  # never leave a file that says otherwise
        raise ConfigError(f"{path}: writing profile {name!r} did not give its values; the file is unchanged")
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
    return changes


def _value_node(document: Any, dotted: str) -> Any:
    """The YAML node of the value at a dotted key (keys of the profiles table contain dots: matched whole)."""
    import yaml

    node, parts = document, dotted.split(".")
    while parts:
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(f"{dotted}: {'.'.join(parts)} is not inside a mapping")
        for length in range(len(parts), 0, -1):  # the longest key that matches: `profiles` rows are dotted keys
            wanted = ".".join(parts[:length])
            match = next((value for key, value in node.value if key.value == wanted), None)
            if match is not None:
                node, parts = match, parts[length:]
                break
        else:
            raise ConfigError(f"{dotted}: not found")
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{dotted}: a profile row sets one value (a number, a word), not {node.tag}")
    return node


def _source(text: str, node: Any) -> str:
    return text[node.start_mark.index : node.end_mark.index]


def _replace_keeping_comment_column(text: str, start: int, end: int, replacement: str) -> str:
    """text with [start, end) replaced; an end-of-line comment after it keeps its column where there is room."""
    rest = text[end:]
    spaces = len(rest) - len(rest.lstrip(" "))
    if rest[spaces : spaces + 1] == "#":
        spaces = max(1, spaces + (end - start) - len(replacement))
        rest = " " * spaces + rest.lstrip(" ")
    return text[:start] + replacement + rest


def _lookup(params: dict[str, Any], dotted: str, path: Path) -> tuple[dict[str, Any], str]:
    """(the mapping holding the last part of `dotted`, that part); a ConfigError naming the missing key."""
    *parents, leaf = dotted.split(".")
    node: Any = params
    for depth, key in enumerate(parents):
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"{path}: {TABLE}.{dotted}: no {key!r} under {'.'.join(parents[:depth]) or 'the top level'}")
        node = node[key]
    if not isinstance(node, dict) or leaf not in node:
        raise ConfigError(f"{path}: {TABLE}.{dotted}: names no existing key (no {leaf!r} under {'.'.join(parents) or 'the top level'})")
    if isinstance(node[leaf], dict):
        raise ConfigError(f"{path}: {TABLE}.{dotted}: names a whole section; a row sets one value")
    return node, leaf
