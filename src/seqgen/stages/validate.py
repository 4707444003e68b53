"""Stage `validate@<task>`: Great Expectations suite over data/interim/<task>; non-zero exit on any failure.

Writes reports/validation/<task>.json (the per-expectation results) and GX Data Docs HTML under
reports/validation/<task>_docs/ (open index.html).
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqgen.config import from_mapping, load_params, task_section, task_spec
from seqgen.errors import ValidationFailed
from seqgen.io import write_json_atomic
from seqgen.stages.common import log, run_stage, task_parser


def main(argv: list[str] | None = None) -> int:
    args = task_parser("python -m seqgen.stages.validate", __doc__).parse_args(argv)

    def body() -> None:
        from seqgen.data.validation import ValidateConfig, failure_message, validate_task

        params = load_params(args.params)
        cfg = from_mapping(ValidateConfig, task_section(params, args.task, "validate"), f"tasks.{args.task}.validate")
        report_path = Path("reports/validation") / f"{args.task}.json"
        spec = task_spec(params, args.task, args.params)
        data = task_section(params, args.task, "data", args.params)
        languages = (data.get("source_lang"), data.get("target_lang")) if spec.kind == "translation" else None
        report = validate_task(args.task, cfg, Path("data/interim") / args.task, Path("reports/validation") / f"{args.task}_docs",
                               kind=spec.kind, languages=languages)
        write_json_atomic(report_path, report)
        if not report["success"]:
            raise ValidationFailed(failure_message(report) + f"\n(full report: {report_path})")
        checks = sum(len(s["expectations"]) for s in report["splits"].values())
        log("validate", f"{args.task}: {checks} expectations passed on splits {', '.join(report['splits'])}")

    return run_stage(f"validate@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
