"""Benchmark: what Prefect orchestration costs over bare DVC (issue 6 targets: <= 2 s per stage over
`dvc repro`; a retrain run with nothing changed <= 20 s).

In two fresh temporary copies of the project (tracked files, slices of the real corpora imported with
`dvc import-url`, the tiny profile), builds translation-mle's chain (ingest, validate, tokenize, train,
evaluate, register, report) once with `dvc repro` and once with the `retrain` flow, then times a retrain
run with nothing changed and the same `dvc repro` with nothing changed. The flow talks to a temporary Prefect server started
once before the timings (as a deployment served against `prefect server start` would).

    . scripts/env.sh && python bench/bench_retrain.py
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def bare_repro(sh, repo: Path) -> str:
    """The same stages as the flow with tasks=[translation], families=[mle]: the chain, then report alone."""
    return sh("dvc", "repro", "register@translation-mle", cwd=repo).stdout + sh("dvc", "repro", "--single-item", "report", cwd=repo).stdout


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    from prefect.testing.utilities import prefect_test_harness

    from seqgen import profiles
    from seqgen.sandbox import make_dailydialog_slice, make_multi30k_slice, make_repo, sh

    with tempfile.TemporaryDirectory(prefix="seqgen-bench-retrain-") as tmp:
        slices = Path(tmp) / "slices"
        make_multi30k_slice(slices / "multi30k")
        make_dailydialog_slice(slices / "dailydialog")
        repos = {}
        for name in ("bare", "flow"):
            (Path(tmp) / name).mkdir()
            repos[name] = make_repo(Path(tmp) / name, slices)
            profiles.write("tiny", repos[name] / "params.yaml")

        bare_build, out = timed(lambda: bare_repro(sh, repos["bare"]))
        stages = out.count("Running stage")
        bare_noop, _ = timed(lambda: bare_repro(sh, repos["bare"]))

        import importlib.util

        spec = importlib.util.spec_from_file_location("bench_retrain_flow", repos["flow"] / "pipelines" / "retrain.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        os.chdir(repos["flow"])
        with prefect_test_harness(server_startup_timeout=90):
            flow_build, summary = timed(lambda: module.retrain(tasks=["translation"], families=["mle"]))
            flow_noop, noop_summary = timed(lambda: module.retrain(tasks=["translation"], families=["mle"]))
        ran = len(summary["ran"])

    overhead = (flow_build - bare_build) / max(1, ran)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print("command: python bench/bench_retrain.py")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"date:    {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit: {commit}")
    print(f" bare dvc repro, {stages} stages:        {bare_build:6.1f} s")
    print(f" retrain flow, {ran} stages ran:          {flow_build:6.1f} s  -> overhead {overhead:+.2f} s per stage (target <= 2 s)")
    print(f" no-op dvc repro:                    {bare_noop:6.1f} s")
    print(f" retrain flow, nothing changed:      {flow_noop:6.1f} s  (target <= 20 s; stages run: {noop_summary['ran'] or 'none'})")


if __name__ == "__main__":
    main()
