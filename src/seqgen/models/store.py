"""A trained model on disk: `models/<task>-<family>/` with model.pt (a state_dict: tensors only, loaded
with weights_only=True), config.json, tokenizer.model and training.json. Self-contained, so evaluation,
the registry and the CLI need nothing else."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from seqgen import families
from seqgen.errors import DataError
from seqgen.io import atomic_path, write_json_atomic
from seqgen.models.transformer import ModelConfig, Seq2Seq


def save_model_dir(out: Path, family: str, task: str, model: torch.nn.Module, state: dict, model_cfg: ModelConfig,
                   tokenizer_path: Path, extra: dict[str, Any], kind: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.pt") as tmp, open(tmp, "wb") as handle:
        # Through a file object: torch.save names the archive after a path's file name, and the temporary
        # name is random, which made identical weights give different model.pt bytes.
        torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, handle)
    shutil.copyfile(tokenizer_path, out / "tokenizer.model")
    config = {"task": task, "kind": kind, "family": family, "model": dataclasses.asdict(model_cfg), **families.get(family).saved(model)}
    write_json_atomic(out / "config.json", config)
    write_json_atomic(out / "training.json", extra)


@dataclasses.dataclass
class LoadedModel:
    task: str
    family: str
    model: torch.nn.Module  # the family's network (families.get(family).build)
    config: dict[str, Any]
    tokenizer_path: Path

    @property
    def kind(self) -> str:
        """translation or dialogue; a model saved before tasks had kinds was one of the two tasks of those names."""
        return self.config.get("kind", "dialogue" if self.task == "dialogue" else "translation")

    @property
    def behaviour(self):
        """The model's family (seqgen.families): how it decodes and what its perplexity is."""
        return families.get(self.family)

    @property
    def seq2seq(self) -> Seq2Seq:
        return self.behaviour.seq2seq(self.model)


def load_model_dir(path: Path, map_location: str = "cpu") -> LoadedModel:
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no config.json (is this a trained model folder?)") from None
    model_cfg = ModelConfig(**config["model"])
    model = families.get(config["family"]).rebuild(model_cfg, config)
    state = torch.load(path / "model.pt", map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return LoadedModel(config["task"], config["family"], model, config, path / "tokenizer.model")
