"""Stage `frontier@<task>-<family>`: quality against diversity of models/<task>-<family> on the validation split.

Sweeps the family's diversity knobs (params.yaml tasks.<task>.frontier: token-sampling temperature; for the VAE
also the spread of its prior draw) and writes plots/frontier/<task>-<family>.tsv, one row a point (curve, knob,
value, quality, diversity, and the rest of the point's measures). The report stage draws the families of a task on
one chart (plots/png/frontier-<task>.png); `dvc plots show` shows it offline. seqgen/evaluation/frontier.py does the work.
"""

from __future__ import annotations

import argparse
import sys

from seqgen.config import DEFAULT_PARAMS, load_params
from seqgen.families import NAMES
from seqgen.paths import project_file
from seqgen.stages.common import log, run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.frontier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=NAMES)
    parser.add_argument("--params", type=project_file, default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    args = parser.parse_args(argv)

    def body() -> None:
        from seqgen.evaluation.frontier import frontier_model

        out = frontier_model(args.task, args.family, load_params(args.params))
        log("frontier", f"{args.task}-{args.family}: wrote {out}")

    return run_stage(f"frontier@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
