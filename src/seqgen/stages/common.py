"""What every stage entry point shares: argument parsing and turning known errors into exit codes."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from seqgen.config import DEFAULT_PARAMS
from seqgen.console import log  # noqa: F401 (the stages' progress lines)
from seqgen.errors import SeqgenError
from seqgen.paths import project_file


def task_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("--params", type=project_file, default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    return parser


def run_stage(name: str, body: Callable[[], None]) -> int:
    """Run `body`; a SeqgenError becomes a one-message exit 1 instead of a traceback."""
    started = time.perf_counter()
    try:
        body()
    except SeqgenError as err:
        print(f"[{name}] error: {err}", file=sys.stderr)
        return 1
    print(f"[{name}] done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0
