"""Shared by the benchmarks: machine description and a scratch copy of the project."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    from seqgen.runtime import machine as described

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{described()}, {mem_gib:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    except OSError:  # no git (a copy of the tree on another machine)
        return "unknown"
    if not rev:
        return "unknown (not a git checkout)"
    return rev + ("-dirty" if dirty.strip() else "")


def header(command: str) -> None:
    print(f"command: {command}")
    print(f"machine: {machine()}")
    print(f"date:    {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"commit:  {commit()}")


def data_root(root: Path, task: str) -> Path:
    """A fresh project root at root with links to the project's data of task (read only) and nothing else:
    training there writes models/, plots/ and .checkpoints/ under root, never the workspace's."""
    shutil.rmtree(root, ignore_errors=True)
    for folder in ("interim", "processed"):
        (root / "data" / folder).mkdir(parents=True)
        source = PROJECT_ROOT / "data" / folder / task
        if not (source / ("train.npz" if folder == "processed" else "train.jsonl")).is_file():
            sys.exit(f"{source}: missing; run `dvc repro tokenize@{task}` first")
        (root / "data" / folder / task).symlink_to(source)
    return root


def scratch_copy(dest: Path) -> Path:
    """Tracked files of the project in dest/seqgen, with dest/shared -> the real ../shared (for the imports)."""
    repo = dest / "seqgen"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, repo / name)
    (dest / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def python_env(repo: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(repo / "src"), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def params_with_profile(profile: str | None = None) -> dict:
    """params.yaml as it stands (None), or with a profile's values in place of its own (in memory: params.yaml is
    not changed)."""
    from seqgen import profiles
    from seqgen.config import load_params

    params = load_params(PROJECT_ROOT / "params.yaml")
    return profiles.apply(params, profile) if profile else params


def evaluate_config(params: dict, task: str):
    """The evaluate stage's settings of task from the (profiled) params, with torch's threads set as the stages
    set them: what every benchmark that decodes like the evaluate stage starts from."""
    import torch

    from seqgen.config import from_mapping, section, task_section
    from seqgen.evaluation.evaluate import EvaluateConfig

    torch.set_num_threads(section(params, "train.run.threads"))
    return from_mapping(EvaluateConfig, task_section(params, task, "evaluate"), f"tasks.{task}.evaluate")


def parse_variant(text: str) -> dict[str, str]:
    """"a=1,b=2" -> {"a": "1", "b": "2"}; "" -> {} (the params as they stand)."""
    pairs = [p for p in text.split(",") if p.strip()]
    if any("=" not in p for p in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value[,key=value...]")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}
