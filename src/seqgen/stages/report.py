"""Stage `report`: PNG charts that need no network (DVC's HTML plots load their chart library from a CDN).

Reads metrics/*.json and plots/train/*.tsv; writes plots/png/metrics.png (BLEU and friends per model) and
plots/png/train-<task>-<family>.png (training curves), and logs the charts and the metrics of every model
to an MLflow run (the embedded SQLite store by default; `MLFLOW_TRACKING_URI` overrides; `--no-mlflow`).
The charts are drawn by seqgen/report.py.
"""

from __future__ import annotations

import argparse
import sys

from seqgen.stages.common import run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-mlflow", action="store_true", help="only write the PNG files")
    args = parser.parse_args(argv)

    def body() -> None:
        from seqgen.report import build_report

        build_report(to_mlflow=not args.no_mlflow)

    return run_stage("report", body)


if __name__ == "__main__":
    sys.exit(main())
