"""Stage `evaluate@<task>-<family>`: score models/<task>-<family> on the test data.

Writes metrics/<task>-<family>.json (DVC metrics) and reports/samples/<task>-<family>.jsonl (source,
reference, hypothesis; sampled responses for dialogue).
"""

from __future__ import annotations

import argparse
import sys

from seqgen.config import DEFAULT_PARAMS, load_params
from seqgen.families import NAMES
from seqgen.paths import project_file
from seqgen.stages.common import log, run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=NAMES)
    parser.add_argument("--params", type=project_file, default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    args = parser.parse_args(argv)

    def body() -> None:
        from seqgen.evaluation.evaluate import evaluate_model
        from seqgen.tracking import log_evaluation_run

        params = load_params(args.params)
        metrics = evaluate_model(args.task, args.family, params)
        headline = {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)}
        log("evaluate", f"{args.task}-{args.family}: {headline}")
        log_evaluation_run(args.task, args.family, params, metrics)

    return run_stage(f"evaluate@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
