"""The family registry: one list of families, each a module whose model survives the trip through a model folder,
and dvc.yaml wiring exactly those families."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import yaml

from helpers import PROJECT_ROOT
from seqgen import families
from seqgen.config import load_params
from seqgen.errors import ConfigError
from seqgen.families.base import read_settings
from seqgen.models.transformer import ModelConfig

TINY = ModelConfig(d_model=32, heads=2, ffn=64, encoder_layers=1, decoder_layers=1, dropout=0.0, label_smoothing=0.0, max_len=16, vocab_size=50)


def settings(name: str) -> dict:
    spec = load_params(PROJECT_ROOT / "params.yaml")["tasks"]["translation"]["train"][name]
    return read_settings(families.get(name), spec, f"tasks.translation.train.{name}")


def test_an_unknown_family_is_refused_with_the_known_ones_named():
    with pytest.raises(ConfigError, match="unknown model family 'diffusion': the families are mle, vae, gan"):
        families.get("diffusion")


@pytest.mark.parametrize("name", families.NAMES)
def test_a_saved_model_rebuilds_to_the_same_network(name):
    family = families.get(name)
    torch.manual_seed(0)
    model = family.build(TINY, settings(name))
    rebuilt = family.rebuild(TINY, family.saved(model))
    rebuilt.load_state_dict(model.state_dict())  # strict: the same parameters with the same shapes
    src = torch.randint(4, 50, (2, 5))
    assert family.seq2seq(rebuilt).cfg == TINY
    extra = family.decoder_extra(rebuilt.eval(), src, sample=False)
    assert (extra is None) == (name != "vae")
    assert (family.warm_starts_from is None) == (name == "mle")


@pytest.mark.parametrize("name", families.NAMES)
def test_a_family_section_with_a_wrong_key_is_refused_by_its_name(name):
    spec = copy.deepcopy(load_params(PROJECT_ROOT / "params.yaml")["tasks"]["translation"]["train"][name])
    spec["extra"] = {}
    with pytest.raises(ConfigError, match=rf"tasks.translation.train.{name}: expected exactly the keys .*got .*'extra'"):
        read_settings(families.get(name), spec, f"tasks.translation.train.{name}")
    spec.pop("extra")
    spec["trainer"] = dict(spec["trainer"], steps="many")
    with pytest.raises(ConfigError, match=rf"tasks.translation.train.{name}.trainer"):
        read_settings(families.get(name), spec, f"tasks.translation.train.{name}")


def test_dvc_yaml_wires_exactly_the_registered_families():
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    assert {s.removeprefix("train-") for s in stages if s.startswith("train-")} == set(families.NAMES)
    for name in families.NAMES:  # each train group depends on its family's module
        assert f"src/seqgen/families/{name}.py" in stages[f"train-{name}"]["do"]["deps"]
    assert stages["evaluate"]["matrix"]["family"] == stages["register"]["matrix"]["family"] == list(families.NAMES)
    assert all(dataclasses.is_dataclass(config) for name in families.NAMES for config in families.get(name).settings.values())
