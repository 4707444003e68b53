"""Stage `ingest@<task>`: raw corpus files -> data/interim/<task>/<split>.jsonl (+ reports/ingest/<task>.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from seqgen.config import load_params
from seqgen.stages.common import run_stage, task_parser


def main(argv: list[str] | None = None) -> int:
    parser = task_parser("python -m seqgen.stages.ingest", __doc__)
    parser.add_argument("--raw-dir", type=Path, help="folder with the raw corpus files (default: the task's tasks.<task>.corpus.path, a DVC import)")
    args = parser.parse_args(argv)

    def body() -> None:
        from seqgen.data.ingest import ingest_task

        ingest_task(args.task, load_params(args.params), raw_dir=args.raw_dir, params_path=args.params)

    return run_stage(f"ingest@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
