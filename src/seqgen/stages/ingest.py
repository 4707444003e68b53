"""Stage `ingest@<task>`: raw corpus files -> data/interim/<task>/<split>.jsonl (+ reports/ingest/<task>.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from seqgen.config import from_mapping, load_params, section
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig, ingest
from seqgen.stages.common import log, run_stage, task_parser

CONFIGS = {"translation": TranslationDataConfig, "dialogue": DialogueDataConfig}


def main(argv: list[str] | None = None) -> int:
    parser = task_parser("python -m seqgen.stages.ingest", __doc__)
    parser.add_argument("--raw-dir", type=Path, required=True, help="folder with the raw corpus files (a DVC import)")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        cfg = from_mapping(CONFIGS[args.task], section(params, f"data.{args.task}"), f"data.{args.task}")
        stats = ingest(
            args.task, cfg, args.raw_dir, Path("data/interim") / args.task, Path("reports/ingest") / f"{args.task}.json"
        )
        log("ingest", f"{args.task}: rows {stats['rows']}")
        log(
            "ingest",
            f"{args.task}: {stats['eval_examples_found_in_train']} valid/test examples also in train; "
            f"dropped from train: {stats['train_examples_dropped_as_leaked']}",
        )

    return run_stage(f"ingest@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
