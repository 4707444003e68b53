"""Benchmark: a retrain under load (issue 28, part 4: 0 errors; p50/p99 reported).

In a fresh temporary copy of the project (tracked files, slices of the real corpora imported with `dvc import-url`,
the tiny profile), the retrain flow builds translation-mle and the gate makes it the first champion. `mlflow models
serve` of `models:/translation-mle@champion` then answers a steady closed-loop load (one test sentence a request,
sampled with a fixed seed; --concurrency clients), measured in four windows:
  idle      the server alone, for --idle seconds;
  retrain   while the retrain flow trains, evaluates and registers a new version (another seed) on the same cores,
            which the gate promotes (it is told to take any valid challenger, so that a swap happens);
  swap      a second server is started on the new champion while the first keeps answering, the load is switched
            to it and the first stopped (blue/green: how a served champion picks up a new version; a running
            `mlflow models serve` never reloads);
  after     the new server alone, for --idle seconds.
Every answer is checked against its server's first answer to the same sentence (a seeded sample: one answer per
input): a server that changed its model under the load (a half-loaded one) would count as an error, like a failed
request.

    . scripts/env.sh && python bench/bench_retrain_under_load.py [--concurrency 4] [--idle 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import header  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=4, help="client threads, each with one request in flight (default 4)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of load before the retrain and after the swap (default 20)")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    import importlib.util

    from prefect.testing.utilities import prefect_test_harness

    from seqgen.io import read_jsonl
    from seqgen.loadtest import ModelServer, SteadyLoad, latency_summary
    from seqgen.sandbox import make_dailydialog_slice, make_multi30k_slice, make_repo

    with tempfile.TemporaryDirectory(prefix="seqgen-bench-load-") as tmp:
        tmp = Path(tmp)
        make_multi30k_slice(tmp / "slices" / "multi30k")
        make_dailydialog_slice(tmp / "slices" / "dailydialog")
        (tmp / "ws").mkdir()
        repo = make_repo(tmp / "ws", tmp / "slices")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{repo / 'mlflow.db'}"
        os.chdir(repo)
        spec = importlib.util.spec_from_file_location("bench_load_flow", repo / "pipelines" / "retrain.py")
        flow = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = flow
        spec.loader.exec_module(flow)

        def edit_params(**registry) -> None:
            params = yaml.safe_load((repo / "params.yaml").read_text())
            seed = registry.pop("seed", None)
            params["tasks"]["translation"]["registry"].update(registry)
            if seed is not None:
                params["train"]["run"]["seed"] = seed
            (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

        def retrain() -> dict:
            flow.retrain(tasks=["translation"], families=["mle"], profile="tiny", update=False, push=False)
            return json.loads((repo / "reports" / "promotion" / "translation-mle.json").read_text())

        windows: dict[str, tuple[float, float]] = {}
        with prefect_test_harness(server_startup_timeout=90):
            edit_params(floor=0.0)
            first = retrain()
            assert first["promoted"], first
            old = first["champion_after"]
            sentences = [example["source"] for example in read_jsonl(repo / "data/interim/translation/test.jsonl")]
            request = {"strategy": "sample", "seed": 7}  # seeded samples tell two tiny versions apart (their beams are often both empty)
            blue = ModelServer("models:/translation-mle@champion", repo, dict(os.environ), tmp / "blue.log")
            green = None
            load = SteadyLoad(blue.url, sentences, args.concurrency, params=request).start()
            try:
                started = time.monotonic()
                time.sleep(args.idle)
                windows["idle"] = (started, time.monotonic())
                edit_params(seed=4321, margin=-100.0, tolerance=1000.0)
                started = time.monotonic()
                record = retrain()
                windows["retrain"] = (started, time.monotonic())
                new = record["champion_after"]
                started = time.monotonic()
                green = ModelServer("models:/translation-mle@champion", repo, dict(os.environ), tmp / "green.log")
                load.url = green.url
                time.sleep(2)
                blue.stop()
                windows["swap"] = (started, time.monotonic())
                started = time.monotonic()
                time.sleep(args.idle)
                windows["after"] = (started, time.monotonic())
                answers = load.stop()
            finally:
                load.stop()
                for server in (blue, green):
                    if server:
                        server.stop()

    first: dict[tuple[str, int], list] = {}
    for answer in sorted(answers, key=lambda a: a.started):
        if answer.error is None and first.setdefault((answer.url, answer.sentence), answer.predictions) != answer.predictions:
            answer.error = f"the server changed its answer to sentence {answer.sentence}: {answer.predictions}"
    header(f"python bench/bench_retrain_under_load.py --concurrency {args.concurrency} --idle {args.idle:g}")
    print(f" gate: {record['reason']} (champion {old} -> {new})")
    for name, (start, end) in windows.items():
        inside = [a for a in answers if start <= a.started < end]
        print(f" {name:8s} {end - start:6.1f} s: {latency_summary(inside)}")
    errors = [a for a in answers if a.error]
    print(f" all      {len(answers)} requests, {len(errors)} errors (failed, or a changed answer)")
    if errors:
        print(" first error:", errors[0].error)


if __name__ == "__main__":
    main()
