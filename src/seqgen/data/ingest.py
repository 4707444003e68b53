"""Ingest: raw corpora -> normalised examples in `data/interim/<task>/<split>.jsonl`.

Translation example: {"id", "source", "target"}; dialogue example: {"id", "context": [turns], "target"}.
Leakage is decided here by a param (drop train examples that also occur in valid/test) and counted, so
validation can check what remains and the count is reported either way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

from seqgen.data import readers
from seqgen.errors import ConfigError
from seqgen.io import write_json_atomic, write_jsonl_atomic
from seqgen.paths import check_language_code
from seqgen.text import normalize, unwrap_tab_quoted

EVAL_SPLITS = ("valid", "test", "test2017")


@dataclasses.dataclass(frozen=True)
class TranslationDataConfig:
    source_lang: str
    target_lang: str
    drop_leaked_from_train: bool

    def __post_init__(self) -> None:
        check_language_code(self.source_lang, "data.translation.source_lang")
        check_language_code(self.target_lang, "data.translation.target_lang")


@dataclasses.dataclass(frozen=True)
class DialogueDataConfig:
    max_context_turns: int
    drop_leaked_from_train: bool

    def __post_init__(self) -> None:
        if self.max_context_turns < 1:
            raise ConfigError(f"data.dialogue.max_context_turns: must be >= 1, got {self.max_context_turns}")


def example_key(example: dict) -> str:
    """What makes two examples 'the same' for duplicate and leakage checks."""
    context = example.get("context")
    source = "\n".join(context) if context is not None else example["source"]
    return source + "\t" + example["target"]


def translation_examples(cfg: TranslationDataConfig, raw_dir: Path) -> dict[str, list[dict]]:
    pairs = readers.read_multi30k(raw_dir, cfg.source_lang, cfg.target_lang)
    return {
        split: [
            {"id": f"{split}-{n}", "source": normalize(unwrap_tab_quoted(src)), "target": normalize(unwrap_tab_quoted(tgt))}
            for n, (src, tgt) in enumerate(rows, start=1)
        ]
        for split, rows in pairs.items()
    }


def dialogue_examples(cfg: DialogueDataConfig, raw_dir: Path) -> dict[str, list[dict]]:
    """One example per utterance after the first: the previous turns (at most N) -> this turn."""
    dialogues = readers.read_dailydialog(raw_dir)
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
    held_out = {example_key(e) for split in EVAL_SPLITS for e in splits.get(split, [])}
    kept = [e for e in splits["train"] if example_key(e) not in held_out]
    return kept, len(splits["train"]) - len(kept)


def count_leaked(splits: dict[str, list[dict]]) -> int:
    train_keys = {example_key(e) for e in splits["train"]}
    return sum(example_key(e) in train_keys for s in EVAL_SPLITS for e in splits.get(s, []))


def ingest(task: str, cfg: TranslationDataConfig | DialogueDataConfig, raw_dir: Path, out_dir: Path, report: Path) -> dict:
    """Read, normalise, optionally drop leaked train examples, write the splits and an ingest report."""
    splits = translation_examples(cfg, raw_dir) if task == "translation" else dialogue_examples(cfg, raw_dir)
    leaked = count_leaked(splits)
    dropped = 0
    if cfg.drop_leaked_from_train:
        splits["train"], dropped = drop_leaked(splits)
    for split, examples in splits.items():
        write_jsonl_atomic(out_dir / f"{split}.jsonl", examples)
    stats = {
        "task": task,
        "rows": {split: len(examples) for split, examples in splits.items()},
        "eval_examples_found_in_train": leaked,
        "drop_leaked_from_train": cfg.drop_leaked_from_train,
        "train_examples_dropped_as_leaked": dropped,
    }
    write_json_atomic(report, stats)
    return stats

