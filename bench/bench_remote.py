"""Benchmark: the costs of reproducibility beyond one workspace (issue 25 targets).

  1. no-op `dvc repro` in this workspace (target <= 3 s): the median of 3, after a warm-up run;
  2. `dvc pull` of everything into a fresh clone from the local DVC remote (target <= 60 s): a `git clone` of this
     project pointed at the same remote (which `make run` filled), every output of every stage pulled;
  3. `seqgen reproduce` of a tiny model (target: <= 20 s over the bare training): in a scratch copy of the project
     on the real corpora with the tiny profile, `scripts/run.sh register@translation-mle` trains, registers and
     pushes version 1; then the train stage alone (`dvc repro -f --no-run-cache -s train-mle@translation`) is timed
     against `seqgen reproduce translation-mle/1`, which adds the worktree, the data from the remote and the checks.

    . scripts/env.sh && python bench/bench_remote.py            # all three (about 5 minutes)
    python bench/bench_remote.py --skip-reproduce               # 1 and 2 only
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header, python_env, scratch_copy  # noqa: E402


def run(*cmd: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{result.stdout[-3000:]}")
    return elapsed, result.stdout


def noop_repro() -> None:
    run("dvc", "repro", cwd=PROJECT_ROOT)  # warm-up (and the check that nothing is stale)
    times = []
    for _ in range(3):
        elapsed, out = run("dvc", "repro", cwd=PROJECT_ROOT)
        if "Running stage" in out:
            sys.exit("the workspace is not up to date: run `make run` first (a no-op repro must run nothing)")
        times.append(elapsed)
    print(f" no-op dvc repro (this workspace, {len(times)} runs):   median {statistics.median(times):5.2f} s   (target <= 3 s)")


def pull_everything(scratch: Path) -> None:
    remote = subprocess.run(["dvc", "remote", "list"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    if len(remote) < 2:
        sys.exit("no DVC remote configured: `make run` pushes to the default one")
    url = remote[1]
    clone = scratch / "clone"
    run("git", "clone", "-q", str(PROJECT_ROOT), str(clone), cwd=scratch)
    run("dvc", "remote", "modify", "--local", "storage", "url", url, cwd=clone)  # the clone is elsewhere: name the same remote
    elapsed, out = run("dvc", "pull", cwd=clone)
    files = sum(1 for p in clone.rglob("*") if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts)
    size = sum(p.stat().st_size for p in clone.rglob("*") if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts) / 2**20
    status = subprocess.run(["dvc", "status"], cwd=clone, capture_output=True, text=True).stdout.strip().splitlines()
    print(f" dvc pull of everything into a fresh clone:          {elapsed:5.1f} s   (target <= 60 s; {files} files, {size:.0f} MiB "
          f"from {url}; then dvc status: {status[-1] if status else '?'})")


def reproduce_overhead(scratch: Path) -> None:
    repo = scratch_copy(scratch / "copy")
    env = dict(python_env(repo), SEQGEN_VENV=sys.prefix, MLFLOW_TRACKING_URI="")
    run(sys.executable, "-m", "seqgen.cli", "profile", "tiny", cwd=repo, env=env)
    for args in (["add", "-A"], ["-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-qm", "tiny"]):
        run("git", *args, cwd=repo)
    built, _ = run("scripts/run.sh", "register@translation-mle", cwd=repo, env=env)
    bare = []
    for _ in range(2):
        elapsed, _ = run("dvc", "repro", "-q", "--force", "--no-run-cache", "--single-item", "train-mle@translation", cwd=repo, env=env)
        bare.append(elapsed)
    elapsed, out = run(sys.executable, "-m", "seqgen.cli", "reproduce", "translation-mle/1", cwd=repo, env=env)
    verdict = out.strip().splitlines()[-1]
    print(f" tiny translation-mle on the real corpora: built, registered and pushed in {built:.0f} s")
    print(f" bare train stage (dvc repro -f, best of 2):         {min(bare):5.1f} s")
    print(f" seqgen reproduce translation-mle/1:                 {elapsed:5.1f} s   -> overhead {elapsed - min(bare):+.1f} s (target <= 20 s)")
    print(f"   {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-pull", action="store_true", help="skip 1 and 2 (they need this workspace built and pushed: `make run`)")
    parser.add_argument("--skip-reproduce", action="store_true", help="skip 3")
    args = parser.parse_args()
    header(shlex.join(["python", "bench/bench_remote.py", *sys.argv[1:]]))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    scratch = Path(tempfile.mkdtemp(prefix="seqgen-bench-remote-"))
    try:
        if not args.skip_pull:
            noop_repro()
            pull_everything(scratch)
        if not args.skip_reproduce:
            reproduce_overhead(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
