"""Stage `train-<family>@<task>`: train one model family on one task -> models/<task>-<family>/.

Families (src/seqgen/families): mle (the Transformer baseline), vae (conditional VAE, warm-started from mle),
gan (sequence GAN, generator warm-started from mle). Resumes from .checkpoints/<task>-<family>/ after an
interruption. Run under `torchrun --nproc_per_node K -m seqgen.stages.train ...` for data parallelism.
"""

from __future__ import annotations

import argparse
import os
import sys

from seqgen.config import DEFAULT_PARAMS, load_params
from seqgen.families import NAMES
from seqgen.paths import project_file
from seqgen.stages.common import log, run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=NAMES)
    parser.add_argument("--params", type=project_file, default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    args = parser.parse_args(argv)

    def body() -> None:
        from seqgen.tracking import log_training_run
        from seqgen.training.job import train

        params = load_params(args.params)
        summary = train(args.task, args.family, params)
        log(f"train {args.task}-{args.family}", f"{summary['steps']} steps, {summary['tokens_per_s']} target tokens/s, final {summary['final']}")
        if summary.get("finished") and int(os.environ.get("RANK", "0")) == 0:
            log_training_run(args.task, args.family, params)

    return run_stage(f"train@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
