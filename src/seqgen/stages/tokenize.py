"""Stage `tokenize@<task>`: SentencePiece on the train split -> data/processed/<task>/{spm.model,<split>.npz,meta.json}.

Refuses to run on data whose validation report is missing or failed.
"""

from __future__ import annotations

import sys

from seqgen.config import load_params
from seqgen.stages.common import run_stage, task_parser


def main(argv: list[str] | None = None) -> int:
    args = task_parser("python -m seqgen.stages.tokenize", __doc__).parse_args(argv)

    def body() -> None:
        from seqgen.data.tokenization import tokenize_task

        tokenize_task(args.task, load_params(args.params), params_path=args.params)

    return run_stage(f"tokenize@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
