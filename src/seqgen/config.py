"""params.yaml loading with typed, strict sections (a wrong or missing key is a clear error).

Each stage reads only its own section through these dataclasses, so DVC's per-stage `params:` lists and
the code agree on what a stage depends on.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import json

import yaml

from seqgen.errors import ConfigError

TASKS = ("translation", "dialogue")
DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The whole params file as a dict."""
    try:
        with open(path, encoding="utf-8") as handle:
            params = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found (run from the project root)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    # YAML aliases (`trainer: *mle_trainer`) load as one shared dict: unshare them, or a change of one task's
    # setting in memory would silently change the other task's too (params.yaml itself has no aliases).
    return json.loads(json.dumps(params))


def section(params: dict[str, Any], dotted: str, path: Path = DEFAULT_PARAMS) -> Any:
    """The value at a dotted key such as `data.translation`, or a ConfigError naming the key."""
    node: Any = params
    for depth, key in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or key not in node:
            where = ".".join(dotted.split(".")[:depth]) or "top level"
            raise ConfigError(f"{path}: missing key {dotted!r} (no {key!r} under {where})")
        node = node[key]
    return node


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return task


T = typing.TypeVar("T")


def from_mapping(cls: type[T], mapping: Any, where: str) -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys, missing keys and wrong types."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        key = f"{where}.{name}"
        if name not in mapping:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing")
            continue
        values[name] = _coerce(hints[name], mapping[name], key)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            if option is type(None) and value is None:
                return None
            try:
                return _coerce(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[-1])
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        return origin(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, item = typing.get_args(hint)
        return {k: _coerce(item, v, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
    return value
