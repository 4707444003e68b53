"""Benchmark: all data stages (ingest, validate, tokenize) for both tasks on the full corpora, and a no-op
`dvc repro`, in a scratch copy of the project. Targets (issue 2): <= 60 s and <= 3 s.

Run: make bench   (or: . scripts/env.sh && python bench/bench_data.py)
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import header, python_env, scratch_copy

DATA_STAGES = [f"{stage}@{task}" for stage in ("ingest", "validate", "tokenize") for task in ("translation", "dialogue")]


def timed(cmd: list[str], repo: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=repo, env=python_env(repo), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}")
    return elapsed, result.stdout


def main() -> None:
    header("python bench/bench_data.py")
    with tempfile.TemporaryDirectory() as tmp:
        repo = scratch_copy(Path(tmp))
        timed(["dvc", "update", "-q", "data/raw/multi30k.dvc", "data/raw/dailydialog.dvc"], repo)
        full, out = timed(["dvc", "repro", *DATA_STAGES], repo)
        for stage, seconds in re.findall(r"\[(\w+@\w+)\] done in ([\d.]+)s", out):
            print(f"  {stage:<22} {float(seconds):6.1f} s (inside the stage process)")
        print(f"all data stages, both tasks, full corpora: {full:.1f} s  (target <= 60 s)")
        noop = [timed(["dvc", "repro"], repo)[0] for _ in range(3)]
        print(f"no-op dvc repro: median {statistics.median(noop):.2f} s of {len(noop)} runs (target <= 3 s)")


if __name__ == "__main__":
    main()
