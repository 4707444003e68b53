"""Readers for the corpora in their official distribution form.

Each reader returns plain Python lists of *raw* lines (normalisation is ingest's job) and raises
`DataError` naming the file, the line and the problem for anything it cannot read: a truncated archive,
a missing member, bytes that are not UTF-8, or parallel files that do not line up.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

from seqgen.errors import DataError
from seqgen.paths import corpus_file

# Multi30k Task 1 file stems: `<stem>.<lang>.gz` in data/task1/raw of the official repository.
MULTI30K_SPLITS = {
    "train": "train",
    "valid": "val",
    "test": "test_2016_flickr",
    "test2017": "test_2017_flickr",
}
# DailyDialog: `<split>.zip` holds `<split>/dialogues_<split>.txt`.
DAILYDIALOG_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
EOU = "__eou__"


def _decode_lines(data: bytes, where: str) -> list[str]:
    """Split bytes into lines, decoding strictly so a bad byte is reported with its line number."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    out = []
    for number, raw in enumerate(lines, start=1):
        try:
            out.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as err:
            raise DataError(
                f"{where}: line {number} is not valid UTF-8 ({err.reason} at byte {err.start}: "
                f"{raw[max(0, err.start - 10):err.start + 10]!r})"
            ) from None
    return out


def read_gzip_lines(path: Path) -> list[str]:
    """All lines of a gzip-compressed UTF-8 text file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except EOFError:
        raise DataError(f"{path}: truncated gzip archive (ended before the end-of-stream marker)") from None
    except (OSError, zlib.error) as err:
        raise DataError(f"{path}: not a readable gzip archive ({err})") from None
    return _decode_lines(data, str(path))


def read_multi30k(raw_dir: Path, source_lang: str, target_lang: str) -> dict[str, list[tuple[str, str]]]:
    """Aligned (source, target) raw line pairs for every split, keyed by our split names."""
    pairs = {}
    for split, stem in MULTI30K_SPLITS.items():
        src_path = corpus_file(raw_dir, f"{stem}.{source_lang}.gz")
        tgt_path = corpus_file(raw_dir, f"{stem}.{target_lang}.gz")
        src, tgt = read_gzip_lines(src_path), read_gzip_lines(tgt_path)
        if len(src) != len(tgt):
            raise DataError(
                f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: "
                "the parallel files are misaligned"
            )
        pairs[split] = list(zip(src, tgt))
    return pairs


def read_zip_member_lines(path: Path, member: str) -> list[str]:
    """Lines of one text member of a zip archive."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if member not in names:
                found = ", ".join(n for n in names if not n.endswith("/")) or "nothing"
                raise DataError(f"{path}: member {member!r} is missing (the archive holds: {found})")
            data = archive.read(member)
    except zipfile.BadZipFile as err:
        raise DataError(f"{path}: not a readable zip archive ({err})") from None
    except (EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupted member {member!r} ({err})") from None
    return _decode_lines(data, f"{path}:{member}")


def split_dialogue(line: str) -> list[str]:
    """Utterances of one DailyDialog line: ` __eou__ `-separated, ending with `__eou__`."""
    pieces = line.split(EOU)
    if pieces and not pieces[-1].strip():
        pieces.pop()  # text after the final __eou__ is empty by format
    return [piece.strip() for piece in pieces]


def read_dailydialog(raw_dir: Path) -> dict[str, list[list[str]]]:
    """Dialogues (lists of raw utterances) for every split, keyed by our split names."""
    dialogues = {}
    for split, name in DAILYDIALOG_SPLITS.items():
        path = corpus_file(raw_dir, f"{name}.zip")
        lines = read_zip_member_lines(path, f"{name}/dialogues_{name}.txt")
        parsed = []
        for number, line in enumerate(lines, start=1):
            if EOU not in line:
                raise DataError(f"{path}:{name}/dialogues_{name}.txt line {number}: no {EOU!r} separator")
            parsed.append(split_dialogue(line))
        dialogues[split] = parsed
    return dialogues
