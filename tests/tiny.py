"""Tiny real data and configs for model tests: 200 Multi30k pairs / DailyDialog examples, a small vocab."""

from __future__ import annotations

import copy
from pathlib import Path

from helpers import PROJECT_ROOT, task_spec_of
from seqgen.config import load_params
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig, ingest
from seqgen.data.tokenization import TokenizeConfig, Tokenizer, encode_split, save_encoded, train_sentencepiece, training_sentences
from seqgen.io import read_jsonl

TINY_MODEL = {"d_model": 64, "heads": 4, "ffn": 128, "encoder_layers": 2, "decoder_layers": 2, "dropout": 0.0, "label_smoothing": 0.0, "max_len": 64}
TINY_TRAINER = {
    "steps": 60, "batch_tokens": 1200, "lr": 0.003, "warmup": 10, "min_lr_ratio": 0.1, "weight_decay": 0.0, "clip": 1.0,
    "eval_every": 1000, "eval_examples": 64, "select_best_by": "last",
}


def make_workspace(root: Path, raw: Path, task: str, train_rows: int = 200) -> Path:
    """root/data/processed/<task>/{spm.model, train.npz, valid.npz} from the real slices."""
    interim = root / "data" / "interim" / task
    if task == "translation":
        ingest(task_spec_of(task), TranslationDataConfig("en", "de", False), raw / "multi30k", interim, root / "r.json")
    else:
        ingest(task_spec_of(task), DialogueDataConfig(2, True), raw / "dailydialog", interim, root / "r.json")
    out = root / "data" / "processed" / task
    train = read_jsonl(interim / "train.jsonl")[:train_rows]
    train_sentencepiece(training_sentences(task, train), out / "spm.model", TokenizeConfig(500, "unigram", 1.0, 1))
    tokenizer = Tokenizer(out / "spm.model")
    save_encoded(out / "train.npz", encode_split(tokenizer, task, train))
    for split in interim.glob("*.jsonl"):
        if split.stem != "train":
            save_encoded(out / f"{split.stem}.npz", encode_split(tokenizer, task, read_jsonl(split)))
    return root


def tiny_params(task: str = "translation", **trainer_overrides) -> dict:
    params = copy.deepcopy(load_params(PROJECT_ROOT / "params.yaml"))
    params["tasks"][task]["model"] = dict(TINY_MODEL)
    params["train"]["run"].update(threads=1, precision="fp32", checkpoint_every=20, log_every=10)
    for family in ("mle", "vae", "gan"):
        spec = params["tasks"][task]["train"][family]
        spec["trainer"] = dict(TINY_TRAINER, **trainer_overrides)
        if family == "gan":
            spec["trainer"].update(lr=0.0005, steps=20, select_best_by="valid_bleu", eval_every=10, eval_examples=40)
            spec["gan"]["discriminator"].update(d_model=32, ffn=64, layers=1)
            spec["gan"]["d_pretrain_steps"] = 6
    return params


TINY_EVALUATE = {"beam": 3, "length_penalty": 0.0, "batch_tokens": 800, "samples": 3, "temperature": 1.0, "top_k": 0,
                 "top_p": 0.9, "max_contexts": 20, "report_examples": 5, "seed": 7, "max_output_tokens": 64}
