"""Paths from the command line and params.yaml stay where they belong: a params file inside the project,
corpus files inside the given raw-data folder (or the project, where DVC's cache links them from).

Checked on the resolved path, so `..`, absolute paths and symlinks that lead elsewhere are all caught.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from seqgen.errors import ConfigError, DataError

# A language code as used in Multi30k file names (`train.en.gz`): a suffix, never a path.
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def is_inside(path: Path, *roots: Path) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def project_file(value: str) -> Path:
    """argparse `type=` for a file the project owns (`--params`): inside the working directory, the project
    root every stage and command runs from."""
    path = Path(value)
    if not is_inside(path, Path.cwd()):
        raise argparse.ArgumentTypeError(f"{value}: resolves to {path.resolve()}, outside the project {Path.cwd()}")
    return path


def corpus_file(raw_dir: Path, name: str) -> Path:
    """`raw_dir/name`, refused if it leads out of the data folder and the project (a hostile symlink)."""
    path = Path(raw_dir) / name
    if not is_inside(path, raw_dir, Path.cwd()):
        raise DataError(f"{path}: resolves to {path.resolve()}, outside the data folder {raw_dir} and the project")
    return path


def check_language_code(value: str, key: str) -> None:
    if not LANGUAGE_CODE.fullmatch(value):
        raise ConfigError(f"{key}: {value!r} is not a language code like 'en' (it becomes part of a file name)")
