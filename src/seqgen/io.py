"""File helpers: atomic writes (a killed stage never leaves a half-written output) and strict readers."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from seqgen.errors import DataError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl_atomic(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json_atomic(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=False)
        handle.write("\n")


def read_jsonl(path: Path) -> list[dict]:
    """All rows of a JSONL file; a bad line is a DataError naming the file and the line."""
    rows = []
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    rows.append(json.loads(raw.decode("utf-8")))
                except UnicodeDecodeError as err:
                    raise DataError(f"{path}: line {number} is not valid UTF-8 ({err.reason})") from None
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (did the ingest stage run?)") from None
    return rows
