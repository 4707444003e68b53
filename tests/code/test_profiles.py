"""Profiles are written into params.yaml (`seqgen profile NAME`), so that what trained is what DVC records."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import PROJECT_ROOT, sh
from seqgen import profiles
from seqgen.config import load_params
from seqgen.errors import ConfigError

PARAMS = PROJECT_ROOT / "params.yaml"


def test_every_row_gives_every_profile_a_value_of_an_existing_knob():
    params = load_params(PARAMS)
    assert profiles.names(params) == ["default", "full", "tiny"]
    assert len(profiles.table(params)) > 30


def test_the_committed_params_hold_the_profile_they_name():
    params = load_params(PARAMS)
    assert profiles.current(params) == params["profile"] == "default"


def test_writing_a_profile_changes_only_its_values_and_writing_default_back_restores_every_byte(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(PARAMS, path)
    original = path.read_text()
    changes = profiles.write("full", path)
    written = load_params(path)
    assert written["tasks"]["translation"]["model"]["encoder_layers"] == 6 and written["profile"] == "full"
    assert written["tasks"]["dialogue"]["model"]["encoder_layers"] == 3  # a translation row leaves dialogue alone
    assert profiles.current(written) == "full" and changes["tasks.translation.model.encoder_layers"] == (3, 6)
    before, after = original.splitlines(), path.read_text().splitlines()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after)) == len(changes) + 1  # one line per changed value, and `profile:`
    assert "    encoder_layers: 6              # encoder depth" in path.read_text()  # comment and its column kept
    profiles.write("tiny", path)
    assert profiles.write("default", path)  # back from another profile, not only from full
    assert path.read_text() == original


def test_in_memory_apply_equals_what_write_gives(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(PARAMS, path)
    profiles.write("tiny", path)
    assert profiles.apply(load_params(PARAMS), "tiny") == load_params(path)


@pytest.mark.parametrize("row, message", [
    ("  tasks.translation.model.heads: {default: 4, full: 4}\n", "every row must give every profile a value"),
    ("  tasks.translation.model.d_modle: {default: 1, full: 2, tiny: 3}\n", "names no existing key"),
    ("  tasks.translation.model: {default: 1, full: 2, tiny: 3}\n", "names a whole section"),
    ("  tasks.translation.model.heads: {default: [4], full: 4, tiny: 4}\n", "one value"),
])
def test_a_bad_row_is_refused_with_its_key_named(tmp_path, row, message):
    text = PARAMS.read_text().replace("profiles:\n", "profiles:\n" + row, 1)
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        profiles.write("full", path)
    assert path.read_text() == text  # nothing written


def test_an_unknown_profile_names_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"no profile 'huge' .*have: default, full, tiny"):
        profiles.values(load_params(PARAMS), "huge")


def test_seqgen_profile_shows_switches_and_names_hand_edits(tmp_path):
    shutil.copy(PARAMS, tmp_path / "params.yaml")

    def cli(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "seqgen.cli", "profile", *args], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "holds the 'default' profile" in cli()
    out = cli("tiny")
    assert "profile 'tiny'" in out and "tasks.translation.model.d_model: 256 -> 64" in out
    text = (tmp_path / "params.yaml").read_text().replace("    dropout: 0.1                   #", "    dropout: 0.2                   #", 1)
    (tmp_path / "params.yaml").write_text(text)
    assert "tasks.translation.model.dropout = 0.2 (profile tiny: 0.1)" in cli()


def test_no_stage_depends_on_the_profile_table_and_no_task_on_the_other_tasks_knobs():
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for param in body.get("params", []):
            assert not str(param).startswith("profile"), f"{name} depends on {param}: the table is not a knob"
            assert "translation" not in str(param) and "dialogue" not in str(param), f"{name}: {param} names one task for every task"


@pytest.mark.integration
def test_dvc_params_diff_between_default_and_full_shows_exactly_the_profiles_changes(tmp_path):
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    sh("git", "init", "-q", cwd=tmp_path)
    sh("dvc", "init", "-q", cwd=tmp_path)
    sh("git", "add", "-A", cwd=tmp_path)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "default", cwd=tmp_path)
    changes = profiles.write("full", tmp_path / "params.yaml")
    import json

    diff = json.loads(sh("dvc", "params", "diff", "--json", cwd=tmp_path).stdout)["params.yaml"]
    assert set(diff) == set(changes) | {"profile"}
    assert diff["tasks.translation.model.encoder_layers"]["old"] == 3 and diff["tasks.translation.model.encoder_layers"]["new"] == 6
