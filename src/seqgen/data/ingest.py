"""Ingest: raw corpora -> normalised examples in `data/interim/<task>/<split>.jsonl`.

Translation example: {"id", "source", "target"}; dialogue example: {"id", "context": [turns], "target"}.
Leakage is decided here by a param (drop train examples that also occur in valid/test) and counted, so
validation can check what remains and the count is reported either way. Splits the corpus does not ship
(`corpus.cut_from_train`) are cut from train here, whole records (a pair, a dialogue) by a seeded shuffle, and
the rule is written into the ingest report.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from seqgen.config import TaskSpec
from seqgen.data import readers
from seqgen.errors import ConfigError
from seqgen.io import write_json_atomic, write_jsonl_atomic
from seqgen.paths import check_language_code
from seqgen.text import normalize, unwrap_tab_quoted

@dataclasses.dataclass(frozen=True)
class TranslationDataConfig:
    source_lang: str
    target_lang: str
    drop_leaked_from_train: bool


@dataclasses.dataclass(frozen=True)
class DialogueDataConfig:
    max_context_turns: int
    drop_leaked_from_train: bool


DATA_CONFIGS = {"translation": TranslationDataConfig, "dialogue": DialogueDataConfig}


def data_config(spec: TaskSpec, mapping: Any) -> TranslationDataConfig | DialogueDataConfig:
    """`tasks.<task>.data` as the task's kind needs it, checked."""
    from seqgen.config import from_mapping

    where = f"tasks.{spec.name}.data"
    cfg = from_mapping(DATA_CONFIGS[spec.kind], mapping, where)
    if isinstance(cfg, TranslationDataConfig):
        check_language_code(cfg.source_lang, f"{where}.source_lang")
        check_language_code(cfg.target_lang, f"{where}.target_lang")
        if cfg.source_lang == cfg.target_lang:
            raise ConfigError(f"{where}: source_lang and target_lang are both {cfg.source_lang!r}")
    elif cfg.max_context_turns < 1:
        raise ConfigError(f"{where}.max_context_turns: must be >= 1, got {cfg.max_context_turns}")
    return cfg


def read_raw(spec: TaskSpec, cfg: TranslationDataConfig | DialogueDataConfig, raw_dir: Path) -> dict[str, list]:
    """The corpus's records per split, read as its format says: (source, target) pairs or lists of turns."""
    corpus = spec.corpus
    columns = corpus.columns or {"source": "source", "target": "target"}
    if spec.kind == "translation" and set(columns) != {"source", "target"}:
        raise ConfigError(f"tasks.{spec.name}.corpus.columns: expected the keys source and target, got {sorted(columns)}")
    if corpus.format == "multi30k":
        return readers.read_multi30k(raw_dir, cfg.source_lang, cfg.target_lang, corpus.splits)
    if corpus.format in ("tsv", "csv"):
        return readers.read_delimited(raw_dir, corpus.splits, columns, "\t" if corpus.format == "tsv" else ",")
    if corpus.format == "jsonl" and spec.kind == "translation":
        return readers.read_jsonl_pairs(raw_dir, corpus.splits, columns)
    if corpus.format == "dailydialog":
        return readers.read_dailydialog(raw_dir, corpus.splits)
    return readers.read_jsonl_dialogues(raw_dir, corpus.splits)


def cut_from_train(records: dict[str, list], shares: dict[str, float], seed: int) -> dict[str, Any]:
    """Move shares of train's records into new splits (in place), by one seeded shuffle; returns the rule as recorded."""
    train = records["train"]
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    taken, start = {}, 0
    for split, share in shares.items():
        count = max(1, round(share * len(train)))
        taken[split] = sorted(order[start : start + count])
        start += count
    kept = sorted(order[start:])
    for split, positions in taken.items():
        records[split] = [train[i] for i in positions]
    records["train"] = [train[i] for i in kept]
    return {"shares": shares, "seed": seed, "shuffle": "random.Random(seed).shuffle of train's record positions, splits taken in order",
            "records": {split: len(records[split]) for split in ("train", *shares)}}


def example_key(example: dict) -> str:
    """What makes two examples 'the same' for duplicate and leakage checks."""
    context = example.get("context")
    source = "\n".join(context) if context is not None else example["source"]
    return source + "\t" + example["target"]


def translation_examples(pairs: dict[str, list[tuple[str, str]]]) -> dict[str, list[dict]]:
    return {
        split: [
            {"id": f"{split}-{n}", "source": normalize(unwrap_tab_quoted(src)), "target": normalize(unwrap_tab_quoted(tgt))}
            for n, (src, tgt) in enumerate(rows, start=1)
        ]
        for split, rows in pairs.items()
    }


def dialogue_examples(cfg: DialogueDataConfig, dialogues: dict[str, list[list[str]]]) -> dict[str, list[dict]]:
    """One example per utterance after the first: the previous turns (at most N) -> this turn."""
    out: dict[str, list[dict]] = {}
    for split, rows in dialogues.items():
        examples = []
        for d, utterances in enumerate(rows, start=1):
            turns = [normalize(u) for u in utterances]
            for t in range(1, len(turns)):
                context = turns[max(0, t - cfg.max_context_turns) : t]
                examples.append({"id": f"{split}-{d}-{t}", "context": context, "target": turns[t]})
        out[split] = examples
    return out


def drop_leaked(splits: dict[str, list[dict]]) -> tuple[list[dict], int]:
    """Train examples without those whose key also occurs in an evaluation split, and how many went."""
    held_out = {example_key(e) for split, examples in splits.items() if split != "train" for e in examples}
    kept = [e for e in splits["train"] if example_key(e) not in held_out]
    return kept, len(splits["train"]) - len(kept)


def count_leaked(splits: dict[str, list[dict]]) -> int:
    train_keys = {example_key(e) for e in splits["train"]}
    return sum(example_key(e) in train_keys for split, examples in splits.items() if split != "train" for e in examples)


def ingest(spec: TaskSpec, cfg: TranslationDataConfig | DialogueDataConfig, raw_dir: Path, out_dir: Path, report: Path) -> dict:
    """Read, cut splits from train where asked, normalise, optionally drop leaked train examples, write the splits and
    an ingest report."""
    if not Path(raw_dir).is_dir():
        from seqgen.errors import DataError

        raise DataError(f"{raw_dir}: no such folder: the corpus of task {spec.name!r} (tasks.{spec.name}.corpus.path) is not here; "
                        f"bring it with `dvc import-url URL {raw_dir}`, or `dvc pull` where the remote has it")
    records = read_raw(spec, cfg, raw_dir)
    cut = cut_from_train(records, spec.corpus.cut_from_train, spec.corpus.cut_seed) if spec.corpus.cut_from_train else None
    splits = translation_examples(records) if spec.kind == "translation" else dialogue_examples(cfg, records)
    leaked = count_leaked(splits)
    dropped = 0
    if cfg.drop_leaked_from_train:
        splits["train"], dropped = drop_leaked(splits)
    for split, examples in splits.items():
        write_jsonl_atomic(out_dir / f"{split}.jsonl", examples)
    stats = {
        "task": spec.name,
        "rows": {split: len(examples) for split, examples in splits.items()},
        "eval_examples_found_in_train": leaked,
        "drop_leaked_from_train": cfg.drop_leaked_from_train,
        "train_examples_dropped_as_leaked": dropped,
    }
    if cut is not None:
        stats["cut_from_train"] = cut
    write_json_atomic(report, stats)
    return stats



def ingest_task(task: str, params: dict, root: Path = Path("."), raw_dir: Path | None = None, params_path: Path | None = None) -> dict:
    """The ingest stage's work: tasks.<task>'s corpus (raw_dir, or its DVC import) -> data/interim/<task>/ and
    reports/ingest/<task>.json; returns the report."""
    from seqgen.config import DEFAULT_PARAMS, task_section, task_spec
    from seqgen.console import log

    spec = task_spec(params, task, params_path or DEFAULT_PARAMS)
    cfg = data_config(spec, task_section(params, task, "data", params_path or DEFAULT_PARAMS))
    stats = ingest(spec, cfg, raw_dir or root / spec.corpus.path, root / "data/interim" / task, root / "reports/ingest" / f"{task}.json")
    log("ingest", f"{task}: rows {stats['rows']}")
    log("ingest", f"{task}: {stats['eval_examples_found_in_train']} valid/test examples also in train; "
                  f"dropped from train: {stats['train_examples_dropped_as_leaked']}")
    return stats
