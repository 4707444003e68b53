"""params.yaml loading with typed, strict sections (a wrong or missing key is a clear error).

Each stage reads only its own section through these dataclasses, so DVC's per-stage `params:` lists and
the code agree on what a stage depends on.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import json
import re
from pathlib import Path
from typing import Any

import yaml

from seqgen.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")
KINDS = ("translation", "dialogue")
# The corpus formats each kind of task reads (seqgen.data.readers has one reader each).
FORMATS = {"translation": ("multi30k", "tsv", "csv", "jsonl"), "dialogue": ("dailydialog", "jsonl")}
REQUIRED_SPLITS = ("train", "valid")
TASK_NAME = re.compile(r"[a-z][a-z0-9_]*")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML silently keeps the last: two tasks
    with one name would quietly become one)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice in one mapping (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_params(path: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The whole params file as a dict."""
    try:
        with open(path, encoding="utf-8") as handle:
            params = yaml.load(handle, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
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


def task_names(params: dict[str, Any], path: Path = DEFAULT_PARAMS) -> list[str]:
    """The declared tasks, in params.yaml's order."""
    tasks = section(params, "tasks", path)
    if not isinstance(tasks, dict) or not tasks:
        raise ConfigError(f"{path}: tasks: expected a mapping of task name to its settings, got {tasks!r}")
    for name in tasks:
        if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
            raise ConfigError(f"{path}: tasks.{name}: a task name is lower-case letters, digits and '_' (it names folders, "
                              "DVC stages and registry models `<task>-<family>`), starting with a letter")
    return list(tasks)


def check_task(params: dict[str, Any], task: str, path: Path = DEFAULT_PARAMS) -> str:
    names = task_names(params, path)
    if task not in names:
        raise ConfigError(f"unknown task {task!r}; {path} declares: {', '.join(names)}")
    return task


def task_section(params: dict[str, Any], task: str, key: str, path: Path = DEFAULT_PARAMS) -> Any:
    """`tasks.<task>.<key>` (key may be dotted: `train.mle`), or a ConfigError naming the key."""
    check_task(params, task, path)
    return section(params, f"tasks.{task}.{key}", path)


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    path: str  # the folder of raw files: a DVC import (`dvc import-url URL data/raw/NAME`)
    format: str  # see FORMATS
    splits: dict[str, str]  # our split name -> its file (multi30k: the stem before .<lang>[.gz]; dailydialog: the zip's stem)
    columns: dict[str, str] | None = None  # tsv/csv: header names, jsonl: field names {source: ..., target: ...} (dialogue jsonl: {turns: ...})
    cut_from_train: dict[str, float] | None = None  # {valid: 0.05, test: 0.05}: splits held out of train by a seeded shuffle
    cut_seed: int = 1234  # the shuffle's seed (recorded in reports/ingest/<task>.json)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str
    corpus: CorpusConfig
    test_sets: dict[str, str]  # reported name -> split; the first is the headline (and the promotion gate's)

    @property
    def splits(self) -> list[str]:
        return list(self.corpus.splits) + list(self.corpus.cut_from_train or {})


def task_spec(params: dict[str, Any], task: str, path: Path = DEFAULT_PARAMS) -> TaskSpec:
    """What a task is: its kind, its corpus and how to read it, its test sets; every inconsistency named by its key."""
    where = f"tasks.{task}"
    kind = task_section(params, task, "kind", path)
    if kind not in KINDS:
        raise ConfigError(f"{path}: {where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    corpus = from_mapping(CorpusConfig, task_section(params, task, "corpus", path), f"{where}.corpus")
    if corpus.format not in FORMATS[kind]:
        raise ConfigError(f"{path}: {where}.corpus.format: {corpus.format!r} is not a {kind} format ({', '.join(FORMATS[kind])})")
    cut = corpus.cut_from_train or {}
    if any(not 0 < share < 0.5 for share in cut.values()) or sum(cut.values()) >= 0.5:
        raise ConfigError(f"{path}: {where}.corpus.cut_from_train: each share must be in (0, 0.5) and all together under 0.5, got {cut}")
    both = sorted(set(cut) & set(corpus.splits))
    if both:
        raise ConfigError(f"{path}: {where}.corpus: split(s) {', '.join(both)} given as a file and as cut_from_train")
    if "train" in cut:
        raise ConfigError(f"{path}: {where}.corpus.cut_from_train: train is what the other splits are cut from")
    spec = TaskSpec(task, kind, corpus, from_mapping_dict(task_section(params, task, "test_sets", path), f"{where}.test_sets"))
    missing = [s for s in REQUIRED_SPLITS if s not in spec.splits]
    if missing:
        raise ConfigError(f"{path}: {where}.corpus.splits: no {' or '.join(missing)} split (give a file, or cut it from train with cut_from_train)")
    if not spec.test_sets:
        raise ConfigError(f"{path}: {where}.test_sets: name at least one test set (reported name: split)")
    unknown = sorted(split for split in spec.test_sets.values() if split not in spec.splits)
    if unknown:
        raise ConfigError(f"{path}: {where}.test_sets: split(s) {', '.join(unknown)} are not among the corpus splits ({', '.join(spec.splits)})")
    return spec


def from_mapping_dict(value: Any, where: str) -> dict[str, str]:
    return _coerce(dict[str, str], value, where)


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
