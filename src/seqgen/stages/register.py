"""Stage `register@<task>-<family>`: put models/<task>-<family> in the MLflow Model Registry and run the gate.

Logs the model as a pyfunc (models-from-code carrying seqgen's code, tokenizer and configs as artifacts,
signature, input example), registers it as version N of `<task>-<family>` with alias `challenger` and tags for
its git commit, profile, DVC data md5s, the train stage's dvc.lock entry (its lineage), metrics and test data
version, then runs the promotion gate (params: registry.<task>), writes the decision to
reports/promotion/<task>-<family>.json and a copy of the registered MLflow model to models/mlflow/<task>-<family>
(a DVC output: another clone serves it after `dvc pull`, with no registry of its own).
A refused challenger is not an error: the stage succeeds and the champion stays.
"""

from __future__ import annotations

import argparse
import sys

from seqgen.config import DEFAULT_PARAMS, load_params
from seqgen.families import NAMES
from seqgen.paths import project_file
from seqgen.stages.common import run_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.register", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=NAMES)
    parser.add_argument("--params", type=project_file, default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    args = parser.parse_args(argv)

    def body() -> None:
        from mlflow.exceptions import MlflowException

        from seqgen.registry.register import RegistryError, register_and_gate

        try:
            register_and_gate(args.task, args.family, load_params(args.params))
        except MlflowException as err:  # e.g. a tracking server that is down: say so in one line (retrying may help)
            import mlflow

            raise RegistryError(f"MLflow tracking store {mlflow.get_tracking_uri()}: {str(err).splitlines()[0][:500]}") from None

    return run_stage(f"register@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
