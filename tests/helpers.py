"""Test helpers: slices of the real corpora written in their official distribution form."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CORPORA = PROJECT_ROOT.parent / "shared" / "corpora"
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
