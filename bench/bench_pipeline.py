"""Benchmark: the pipeline's wall time on this machine, stage by stage (issue 29, part 3: the default profile must
fit 45 minutes on a 2-core machine with AVX-512 BF16 and 90 on one with AVX2 only).

Runs `dvc repro --force` (every stage rebuilt, nothing pulled from a remote or the run-cache) and timestamps each
stage from DVC's own "Running stage" lines; prints the seconds per stage, per kind of stage and in all.

    . scripts/env.sh && python bench/bench_pipeline.py             # a scratch copy (bench/.pipeline), data imported
    . scripts/env.sh && python bench/bench_pipeline.py --in-place  # this workspace: its outputs are rebuilt
    . scripts/env.sh && python bench/bench_pipeline.py --emulate-avx2

--emulate-avx2 runs the scratch copy in fp32 (train.run.precision and every evaluate.precision) with torch, oneDNN,
MKL and CTranslate2 held to AVX2 kernels: the arithmetic of the AVX2 kind on this machine. It is an approximation:
the clock, caches and memory stay this machine's (docs/EXPERIMENTS.md compares it with a real AVX2 machine).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header, scratch_copy  # noqa: E402

STAGE_LINE = re.compile(r"Running stage '([^']+)'")
AVX2_ONLY = {  # every library that picks its kernels by the CPU's instruction sets
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "CT2_FORCE_CPU_ISA": "AVX2",
}


def force_fp32(params_path: Path) -> None:
    """Training and decoding in fp32, as on a machine without AVX-512 BF16 (the copy's params.yaml only)."""
    import yaml

    params = yaml.safe_load(params_path.read_text())
    params["train"]["run"]["precision"] = "fp32"
    for task in params["tasks"].values():
        task["evaluate"]["precision"] = "fp32"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def timed_repro(repo: Path, env: dict[str, str], log: Path) -> tuple[list[tuple[str, float]], float]:
    """[(stage, seconds)] in the order DVC ran them, and the total; the stage lines go to the terminal, all of DVC's
    output to log, line by line (`tail -f` it to follow a stage's progress bar).
    A stage's time runs from its "Running stage" line to the next one (so it includes DVC saving its outputs)."""
    stages: list[tuple[str, float]] = []
    started = time.perf_counter()
    with log.open("w", buffering=1) as sink, subprocess.Popen(["dvc", "repro", "--force"], cwd=repo, env=env, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            sink.write(line)
            match = STAGE_LINE.search(line)
            if match:
                stages.append((match.group(1), time.perf_counter()))
                print(f"[{time.perf_counter() - started:7.0f} s] {match.group(1)}", flush=True)
    total = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"dvc repro failed (exit {proc.returncode}); its output: {log}")
    ends = [t for _, t in stages[1:]] + [started + total]
    return [(name, end - begin) for (name, begin), end in zip(stages, ends)], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in-place", action="store_true", help="rebuild this workspace's outputs instead of a scratch copy's")
    parser.add_argument("--emulate-avx2", action="store_true", help="fp32 and AVX2 kernels only, in a scratch copy")
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "bench/.pipeline", help="where the scratch copy goes")
    args = parser.parse_args()
    if args.in_place and args.emulate_avx2:
        parser.error("--emulate-avx2 changes params.yaml: it runs in a scratch copy, not --in-place")
    header(" ".join(["python bench/bench_pipeline.py", *sys.argv[1:]]))
    env = dict(os.environ)
    if args.in_place:
        repo, imported = PROJECT_ROOT, 0.0
    else:
        shutil.rmtree(args.workdir, ignore_errors=True)
        repo = scratch_copy(args.workdir)
        # no remote: the raw data comes from its source, as on a first run (the stages are forced anyway)
        subprocess.run(["dvc", "remote", "remove", "storage"], cwd=repo, check=True, capture_output=True)
        begin = time.perf_counter()
        subprocess.run(["bash", "scripts/restore-data.sh"], cwd=repo, env=dict(env, SEQGEN_ROOT=str(repo)), check=True)
        imported = time.perf_counter() - begin
    if args.emulate_avx2:
        force_fp32(repo / "params.yaml")
        env.update(AVX2_ONLY)
    env["SEQGEN_ROOT"] = str(repo)
    print(f"precision: {'fp32, AVX2 kernels only (' + ', '.join(f'{k}={v}' for k, v in AVX2_ONLY.items()) + ')' if args.emulate_avx2 else 'as params.yaml says'}; "
          f"repo: {repo}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    stages, total = timed_repro(repo, env, args.workdir / "dvc-repro.log")

    by_kind: dict[str, float] = defaultdict(float)
    print("\n| stage | seconds |\n|---|---|")
    for name, seconds in stages:
        by_kind[name.split("@")[0]] += seconds
        print(f"| {name} | {seconds:.0f} |")
    print("\n| kind of stage | minutes |\n|---|---|")
    if imported:
        print(f"| data import (scripts/restore-data.sh) | {imported / 60:.1f} |")
    for kind, seconds in by_kind.items():
        print(f"| {kind} | {seconds / 60:.1f} |")
    print(f"\nTOTAL: dvc repro --force {total / 60:.1f} min" + (f", with the data import {(total + imported) / 60:.1f} min" if imported else ""))


if __name__ == "__main__":
    main()
