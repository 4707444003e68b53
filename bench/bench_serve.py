"""Benchmark: `mlflow models serve` of a registered champion under load (issue 8: 500 requests at
concurrency 8 on loopback -> zero errors; p50 and p99 latency).

Starts the server on a free loopback port with the project's tracking store, sends one test_2016_flickr
sentence per request from 8 client threads, and prints errors, throughput and latency percentiles.

    . scripts/env.sh && python bench/bench_serve.py [--model models:/translation-gan@champion] [--requests 500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/translation-gan@champion")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from seqgen.io import read_jsonl

    sentences = [e["source"] for e in read_jsonl(ROOT / "data/interim/translation/test.jsonl")]
    env = dict(os.environ, MLFLOW_TRACKING_URI=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlflow.db'}"))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", args.model, "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the model server did not start")
                time.sleep(0.5)

        def one(i: int) -> tuple[float, str | None]:
            body = json.dumps({"inputs": [sentences[i % len(sentences)]]}).encode()
            request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    answer = json.loads(response.read())
                    error = None if len(answer.get("predictions", [])) == 1 else f"bad answer {answer}"
            except (urllib.error.URLError, OSError, ValueError) as err:
                error = repr(err)
            return time.perf_counter() - started, error

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    latencies = sorted(t for t, _ in results)
    errors = [e for _, e in results if e]
    q = statistics.quantiles(latencies, n=100)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"command: python bench/bench_serve.py --model {args.model} --requests {args.requests} --concurrency {args.concurrency}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit: {commit}")
    print(f" {args.requests} requests, {args.concurrency} at a time: {len(errors)} errors, {args.requests / wall:.1f} requests/s")
    print(f" latency p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    if errors:
        print(" first error:", errors[0])


if __name__ == "__main__":
    main()
