"""A training stage killed with SIGKILL and run again by `dvc repro` ends with the weights of an
uninterrupted run, bit for bit.

In a temporary copy of the project on slices of the real corpora, with the tiny profile made a little
longer so the kills land at two different checkpoints, an early and a late one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import copy_workspace, sh
from seqgen import profiles

pytestmark = pytest.mark.integration
STAGE = "train-mle@translation"
STEPS, CHECKPOINT_EVERY = 160, 40


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def checkpoint_step(path: Path) -> int:
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["step"])
    except Exception:  # absent, or being replaced this instant
        return -1


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, built_repo) -> Path:
    """<root>/{repo, corpora} with the data stages done and no training yet."""
    root = tmp_path_factory.mktemp("kill") / "ws"
    repo = copy_workspace(built_repo, root)
    profiles.write("tiny", repo / "params.yaml")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tasks"]["translation"]["train"]["mle"]["trainer"]["steps"] = STEPS
    params["train"]["run"]["checkpoint_every"] = CHECKPOINT_EVERY
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def fresh_copy(workspace: Path, dest: Path) -> Path:
    shutil.copytree(workspace, dest, symlinks=True)
    return dest / "repo"


@pytest.fixture(scope="module")
def reference(workspace, tmp_path_factory) -> dict[str, str]:
    """The model files of an uninterrupted `dvc repro`. (That a forced retraining from scratch gives the same files is
    tests/reproducibility's `seqgen reproduce`, a `dvc repro --force --no-run-cache` in a fresh worktree.)"""
    repo = fresh_copy(workspace, tmp_path_factory.mktemp("reference") / "ws")
    sh("dvc", "repro", STAGE, cwd=repo)
    return {"first": {p.name: md5(p) for p in (repo / "models" / "translation-mle").iterdir() if p.name != "training.json"}}


@pytest.mark.parametrize("kill_after", [40, 120])
def test_sigkill_then_dvc_repro_resumes_to_identical_weights(workspace, reference, tmp_path, kill_after):
    repo = fresh_copy(workspace, tmp_path / "ws")  # this stage has never completed here, as after a real crash
    checkpoint = repo / ".checkpoints" / "translation-mle" / "checkpoint.pt"
    env = dict(os.environ, PYTHONPATH=str(repo / "src"), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", STAGE], cwd=repo, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while checkpoint_step(checkpoint) < kill_after:
        assert run.poll() is None, "training finished before the kill point: make it longer"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # dvc and the training process with it, mid-run
    run.wait()
    assert not (repo / "models" / "translation-mle" / "model.pt").exists()
    killed_at = checkpoint_step(checkpoint)
    assert kill_after <= killed_at < STEPS

    resumed = sh("dvc", "repro", STAGE, cwd=repo)
    assert f"at step {killed_at}" in resumed.stdout and "resumed from" in resumed.stdout, resumed.stdout[-2000:]
    assert md5(repo / "models" / "translation-mle" / "model.pt") == reference["first"]["model.pt"]
