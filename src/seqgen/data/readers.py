"""Readers for the corpus formats a task can declare (`tasks.<task>.corpus.format` in params.yaml).

Translation: `multi30k` (`<file>.<lang>[.gz]` line-aligned pairs), `tsv` and `csv` (a header row naming the
source and target columns), `jsonl` (one object a line with a source and a target field). Dialogue:
`dailydialog` (`<split>.zip` holding `<split>/dialogues_<split>.txt`, turns separated by `__eou__`) and `jsonl`
(one JSON list of turns a line). Each reader returns plain Python lists of *raw* text (normalisation is ingest's
job): translation (source, target) pairs, dialogue lists of turns, per split. Anything it cannot read raises
`DataError` naming the file, the line and the problem: a truncated archive, a missing member or column, bytes
that are not UTF-8, a line that is not the format, or parallel files that do not line up.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
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


def read_text_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file, gzip-compressed when its name ends in .gz."""
    if path.name.endswith(".gz"):
        return read_gzip_lines(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return _decode_lines(path.read_bytes(), str(path))


def _side_file(raw_dir: Path, stem: str, lang: str) -> Path:
    """`<stem>.<lang>.gz`, or `<stem>.<lang>` where only the uncompressed file exists."""
    packed = corpus_file(raw_dir, f"{stem}.{lang}.gz")
    plain = corpus_file(raw_dir, f"{stem}.{lang}")
    return plain if plain.is_file() and not packed.is_file() else packed


def read_multi30k(raw_dir: Path, source_lang: str, target_lang: str, splits: dict[str, str] = MULTI30K_SPLITS) -> dict[str, list[tuple[str, str]]]:
    """Aligned (source, target) raw line pairs for every split, keyed by our split names."""
    pairs = {}
    for split, stem in splits.items():
        src_path, tgt_path = _side_file(raw_dir, stem, source_lang), _side_file(raw_dir, stem, target_lang)
        src, tgt = read_text_lines(src_path), read_text_lines(tgt_path)
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


def read_dailydialog(raw_dir: Path, splits: dict[str, str] = DAILYDIALOG_SPLITS) -> dict[str, list[list[str]]]:
    """Dialogues (lists of raw utterances) for every split, keyed by our split names."""
    dialogues = {}
    for split, name in splits.items():
        path = corpus_file(raw_dir, f"{name}.zip")
        lines = read_zip_member_lines(path, f"{name}/dialogues_{name}.txt")
        parsed = []
        for number, line in enumerate(lines, start=1):
            if EOU not in line:
                raise DataError(f"{path}:{name}/dialogues_{name}.txt line {number}: no {EOU!r} separator")
            parsed.append(split_dialogue(line))
        dialogues[split] = parsed
    return dialogues


def read_delimited(raw_dir: Path, splits: dict[str, str], columns: dict[str, str], delimiter: str) -> dict[str, list[tuple[str, str]]]:
    """(source, target) pairs from TSV or CSV files with a header row; `columns` names the two columns."""
    pairs = {}
    for split, name in splits.items():
        path = corpus_file(raw_dir, name)
        text = "\n".join(read_text_lines(path))
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file (expected a header row naming the columns {columns['source']!r} and {columns['target']!r})")
        missing = [columns[side] for side in ("source", "target") if columns[side] not in header]
        if missing:
            raise DataError(f"{path} line 1: no column {' or '.join(map(repr, missing))} in the header {header}")
        src_at, tgt_at = header.index(columns["source"]), header.index(columns["target"])
        rows = []
        for fields in reader:
            if len(fields) != len(header):
                raise DataError(f"{path} line {reader.line_num}: {len(fields)} fields, the header has {len(header)}")
            rows.append((fields[src_at], fields[tgt_at]))
        pairs[split] = rows
    return pairs


def _json_lines(path: Path) -> list[tuple[int, object]]:
    out = []
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {number}: not JSON ({err.msg} at column {err.colno})") from None
    return out


def read_jsonl_pairs(raw_dir: Path, splits: dict[str, str], columns: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """(source, target) pairs from JSON Lines files: one object a line with the two fields `columns` names."""
    pairs = {}
    for split, name in splits.items():
        path = corpus_file(raw_dir, name)
        rows = []
        for number, record in _json_lines(path):
            values = [record.get(columns[side]) if isinstance(record, dict) else None for side in ("source", "target")]
            if not all(isinstance(v, str) for v in values):
                raise DataError(f"{path} line {number}: expected an object with string fields "
                                f"{columns['source']!r} and {columns['target']!r}, got {json.dumps(record)[:80]}")
            rows.append((values[0], values[1]))
        pairs[split] = rows
    return pairs


def read_jsonl_dialogues(raw_dir: Path, splits: dict[str, str]) -> dict[str, list[list[str]]]:
    """Dialogues from JSON Lines files: one JSON list of turns (strings, at least two) a line."""
    dialogues = {}
    for split, name in splits.items():
        path = corpus_file(raw_dir, name)
        rows = []
        for number, record in _json_lines(path):
            if not (isinstance(record, list) and len(record) >= 2 and all(isinstance(t, str) for t in record)):
                raise DataError(f"{path} line {number}: expected a JSON list of at least two turns (strings), got {json.dumps(record)[:80]}")
            rows.append(record)
        dialogues[split] = rows
    return dialogues
