"""Stage `validate@<task>`: Great Expectations suite over data/interim/<task>; non-zero exit on any failure.

Writes reports/validation/<task>.json (the per-expectation results) and GX Data Docs HTML under
reports/validation/<task>_docs/ (open index.html).
"""

from __future__ import annotations

import sys

from seqgen.config import load_params
from seqgen.stages.common import run_stage, task_parser


def main(argv: list[str] | None = None) -> int:
    args = task_parser("python -m seqgen.stages.validate", __doc__).parse_args(argv)

    def body() -> None:
        from seqgen.data.validation import validate_and_report

        validate_and_report(args.task, load_params(args.params), params_path=args.params)

    return run_stage(f"validate@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
