"""Scratch copies of the project on slices of the real corpora, for the tests and the benchmarks: slices of
Multi30k and DailyDialog written in their official distribution form, and a git-initialised copy of the
project's tracked files that imports them with `dvc import-url`, as the real project does.

The corpora are read from ../shared/corpora beside the checkout (SEQGEN_CORPORA overrides); nothing here
writes outside the folders it is given.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CORPORA = Path(os.environ.get("SEQGEN_CORPORA", PROJECT_ROOT.parent / "shared" / "corpora"))
MULTI30K_GZ = CORPORA / "multi30k" / "original_gz"
DAILYDIALOG_ZIP = CORPORA / "dailydialog" / "original_zip"
TAB_LINE = 7366  # the quote-wrapped line of train.de holding a TAB (see multi30k/SOURCE.md)


def read_gz_lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).split(b"\n")[:-1]


def write_gz_lines(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: identical bytes on every run, so DVC sees the same data version.
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0))


def zip_member(split: str) -> str:
    return f"{split}/dialogues_{split}.txt"


def read_zip_lines(path: Path, member: str) -> list[bytes]:
    with zipfile.ZipFile(path) as archive:
        return archive.read(member).split(b"\n")[:-1]


def write_zip_lines(path: Path, member: str, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = zipfile.ZipInfo(member, date_time=(2017, 4, 15, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, b"".join(line + b"\n" for line in lines))


def make_multi30k_slice(dest: Path, train: int = 400, evaluation: int = 40) -> Path:
    """First lines of every Multi30k split (train also gets the TAB line), as <stem>.<lang>.gz."""
    for gz in sorted(MULTI30K_GZ.glob("*.gz")):
        lines = read_gz_lines(gz)
        if gz.name.startswith("train."):
            picked = lines[:train] + [lines[TAB_LINE - 1]]
        else:
            picked = lines[:evaluation]
        write_gz_lines(dest / gz.name, picked)
    return dest


def make_dailydialog_slice(dest: Path, train: int = 150, evaluation: int = 20) -> Path:
    """First dialogues of every DailyDialog split, as <split>.zip with the official member names."""
    for split in ("train", "validation", "test"):
        lines = read_zip_lines(DAILYDIALOG_ZIP / f"{split}.zip", zip_member(split))
        write_zip_lines(dest / f"{split}.zip", zip_member(split), lines[: train if split == "train" else evaluation])
    return dest


# ---- a temporary copy of the project, for tests that run real pipeline commands --------------------------
def sh(*cmd: str, cwd: Path, check: bool = True, merge: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """cmd in cwd with the project copy's code (cwd/src) first; stderr joins stdout unless merge=False."""
    env = {**os.environ, "PYTHONPATH": str(cwd / "src"), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr or ''}")
    return result


def copy_tracked_files(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (PROJECT_ROOT / name).is_file():  # ls-files lists deleted-but-uncommitted files too
            shutil.copy2(PROJECT_ROOT / name, target)


def slice_params(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tasks"]["translation"]["validate"]["rows"] = {"train": [401, 401], "valid": [40, 40], "test": [40, 40], "test2017": [40, 40]}
    params["tasks"]["dialogue"]["validate"]["rows"] = {"train": [900, 1300], "valid": [100, 200], "test": [100, 200]}
    for task in ("translation", "dialogue"):
        params["tasks"][task]["tokenize"]["vocab_size"] = 600
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))



def make_repo(root: Path, raw_slices: Path) -> Path:
    """<root>/repo: the tracked files of the project, git-initialised, importing its raw data with
    `dvc import-url` from <root>/corpora (a copy of the slices) exactly like the real project does."""
    shutil.copytree(raw_slices, root / "corpora")
    repo = root / "repo"
    copy_tracked_files(repo)
    slice_params(repo)
    sh("git", "init", "-q", cwd=repo)
    for corpus in ("multi30k", "dailydialog"):
        (repo / "data" / "raw" / f"{corpus}.dvc").unlink()
        sh("dvc", "import-url", "-q", f"../../../corpora/{corpus}", corpus, cwd=repo / "data" / "raw")
    return repo


def copy_workspace(built: Path, dest: Path) -> Path:
    """dest/{repo, corpora}: a copy of the `built_repo` fixture's workspace (links kept as links); returns dest/repo."""
    shutil.copytree(built, dest, symlinks=True)
    return dest / "repo"
