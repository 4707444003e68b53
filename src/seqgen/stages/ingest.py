"""Stage `ingest@<task>`: raw corpus files -> data/interim/<task>/<split>.jsonl (+ reports/ingest/<task>.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from seqgen.config import load_params, task_section, task_spec
from seqgen.data.ingest import data_config, ingest
from seqgen.stages.common import log, run_stage, task_parser

def main(argv: list[str] | None = None) -> int:
    parser = task_parser("python -m seqgen.stages.ingest", __doc__)
    parser.add_argument("--raw-dir", type=Path, help="folder with the raw corpus files (default: the task's tasks.<task>.corpus.path, a DVC import)")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        spec = task_spec(params, args.task, args.params)
        cfg = data_config(spec, task_section(params, args.task, "data", args.params))
        raw_dir = args.raw_dir or Path(spec.corpus.path)
        stats = ingest(spec, cfg, raw_dir, Path("data/interim") / args.task, Path("reports/ingest") / f"{args.task}.json")
        log("ingest", f"{args.task}: rows {stats['rows']}")
        log(
            "ingest",
            f"{args.task}: {stats['eval_examples_found_in_train']} valid/test examples also in train; "
            f"dropped from train: {stats['train_examples_dropped_as_leaked']}",
        )

    return run_stage(f"ingest@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
