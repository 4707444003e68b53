"""Benchmark: batched REST serving on Ray Serve (`python -m seqgen.serving`) against the same model decoding offline.

Both in --rounds rounds, each (a) then (b), with the server started once and idle during (a):
(a) Offline: the model's Generator on the first --limit test_2016_flickr sentences in one call (its default request:
    beam search as the evaluate stage decodes), sentences/s: the rate batching can at best reach.
(b) Served: `python -m seqgen.serving` on a free loopback port, and --requests requests of one sentence each from
    --concurrency client threads (a closed loop: each sends its next request when its last is answered, over a
    keep-alive connection, so the clients cost little of the CPU they share with the server). Prints errors,
    requests/s, the ratio to the same round's (a), latency percentiles and what the server batched.
Pairing each load with the offline call just before it is what makes the ratio mean something on these shared
machines, whose speed drifts by 10-20% within minutes; the served rate of all rounds against the best offline call of
the run, the stricter reading, is printed too.
(c) With --compare-mlflow, the same load against `mlflow models serve` of the same model (seqgen.loadtest.ModelServer).

Targets (the issue): beam 5, one sentence a request, concurrency 32: at least 80% of the offline rate, p99 <= 1 s,
0 errors over 2,000 requests (the default: 3 rounds of 1,000).

    . scripts/env.sh && python bench/bench_batched_serve.py [--model models:/translation-mle@champion] [--rounds 3]
        [--requests 1000] [--concurrency 32] [--limit 1000] [--max-batch-size 32] [--batch-wait-ms 5]
        [--refill-wait-ms 15] [--replicas 1] [--compare-mlflow]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header  # noqa: E402

ALONE = 20  # sentences decoded one at a time, offline and over REST: Ray's overhead on a lone request


def closed_loop(port: int, sentences: list[str], requests: int, concurrency: int) -> tuple[list[float], list[str], float]:
    """Latencies (s) and errors of `requests` one-sentence requests from `concurrency` threads, and the wall time."""
    latencies: list[float] = []
    errors: list[str] = []
    lock, issued = threading.Lock(), iter(range(requests))

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                i = next(issued, None)
            if i is None:
                break
            body = json.dumps({"inputs": [sentences[i % len(sentences)]]})
            started = time.perf_counter()
            try:
                connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = json.loads(response.read())
                error = None if response.status == 200 and len(answer.get("predictions", [])) == 1 else f"HTTP {response.status}: {answer}"
            except (OSError, ValueError, http.client.HTTPException) as err:
                error = repr(err)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if error:
                    errors.append(error)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def summary(label: str, latencies: list[float], errors: list[str], wall: float, offline_rate: float) -> dict:
    ordered = sorted(latencies)
    q = statistics.quantiles(ordered, n=100)
    rate = len(ordered) / wall
    print(f"{label}: {len(ordered)} requests in {wall:.1f} s: {len(errors)} errors, {rate:.1f} requests/s "
          f"({rate / offline_rate:.0%} of the best offline call), latency p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
          f"max {ordered[-1] * 1000:.0f} ms")
    if errors:
        print(f"  first error: {errors[0][:500]}")
    return {"rate": rate, "p99": q[98], "errors": len(errors)}


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> float:
    started = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=2).close()
            return time.monotonic() - started
        except OSError:
            if process.poll() is not None or time.monotonic() - started > timeout:
                sys.exit(f"the server did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/translation-mle@champion", help="MLflow model URI or model folder (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one offline call then one served load (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=1000, help="requests of each round's served load (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit", type=int, default=1000, help="test sentences used, offline and as requests (default: %(default)s)")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads of each replica and of the offline decode (default: seqgen.serving's)")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--refill-wait-ms", type=float, default=None, help="seqgen.serving's --refill-wait-ms (default: its own)")
    parser.add_argument("--compare-mlflow", action="store_true", help="also load `mlflow models serve` of the same model")
    args = parser.parse_args()

    from seqgen.errors import SeqgenError
    from seqgen.inference import Generator
    from seqgen.io import read_jsonl
    from seqgen.loadtest import ModelServer, free_port
    from seqgen.serving import default_threads, resolve_model_dir, stop

    header("python bench/bench_batched_serve.py " + " ".join(sys.argv[1:]))
    env = dict(os.environ, MLFLOW_TRACKING_URI=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"),
               RAY_USAGE_STATS_ENABLED="0")
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    sentences = [e["source"] for e in read_jsonl(PROJECT_ROOT / "data/interim/translation/test.jsonl")][: args.limit]
    threads = args.threads or default_threads(args.replicas)

    # Offline: one call on every sentence, as a batch job would decode them. On a thread of its own with the
    # replica's torch threads, as a replica decodes: on a busy 2-core machine here, 2 torch threads on the main thread
    # decoded 2.6x slower than on a worker thread (or than 1 thread), which would flatter the server.
    import torch

    try:
        model_dir = resolve_model_dir(args.model)
    except SeqgenError as err:
        sys.exit(f"error: {err}")
    generator = Generator(model_dir, threads=threads)
    decoder = ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(threads,))
    print(f"model: {args.model} ({model_dir}); default request: {generator.defaults}; "
          f"{threads} torch thread(s)")

    def timed(texts: list[str]) -> float:
        started = time.perf_counter()
        decoder.submit(generator, texts).result()
        return time.perf_counter() - started

    timed(sentences[:8])  # warm up
    alone = [timed([sentence]) for sentence in sentences[:ALONE]]
    print(f"offline, one sentence a call: mean {statistics.mean(alone) * 1000:.0f} ms over the first {len(alone)}")

    # Served by Ray Serve, in rounds that alternate with offline calls: the speed of these shared machines drifts by
    # 10-20% within minutes (one offline call of about 7 s ran at 125-156 sentences/s in one run), so each served load
    # is set against the offline call just before it, and the server idles (a few % of one core) during that call.
    port, log = free_port(), Path(tempfile.mkdtemp(prefix="seqgen-bench-")) / "serving.log"
    command = [sys.executable, "-m", "seqgen.serving", "--model", args.model, "--port", str(port), "--replicas", str(args.replicas),
               "--threads", str(threads), "--max-batch-size", str(args.max_batch_size), "--batch-wait-ms", str(args.batch_wait_ms)]
    if args.refill_wait_ms is not None:
        command += ["--refill-wait-ms", str(args.refill_wait_ms)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    results = {}
    try:
        ready = wait_ready(url, process, log)
        print(f"ray serve: ready (GET /ping 200) {ready:.1f} s after start ({args.replicas} replica(s), {threads} thread(s) each, "
              f"batches of up to {args.max_batch_size}, {args.batch_wait_ms:g} ms wait); log {log}")
        latencies, errors, wall = closed_loop(port, sentences, ALONE, 1)  # the same sentences one at a time: what Ray adds
        print(f"ray serve, one request at a time: mean latency {statistics.mean(latencies) * 1000:.0f} ms over {len(latencies)} requests "
              f"({(statistics.mean(latencies) - statistics.mean(alone)) * 1000:+.0f} ms on the offline call)")
        rounds, all_latencies, all_errors, served_wall = [], [], [], 0.0
        for number in range(1, args.rounds + 1):
            offline = len(sentences) / timed(sentences)
            before = json.loads(urllib.request.urlopen(f"{url}/stats").read())
            latencies, errors, wall = closed_loop(port, sentences, args.requests, args.concurrency)
            after = json.loads(urllib.request.urlopen(f"{url}/stats").read())
            served = len(latencies) / wall
            rounds.append((offline, served))
            all_latencies += latencies
            all_errors += errors
            served_wall += wall
            line = (f"round {number}: offline {offline:.1f} sentences/s ({len(sentences)} in one call); served {served:.1f} requests/s "
                    f"({len(latencies)} at concurrency {args.concurrency}) = {served / offline:.0%} of offline")
            decode, requests, batches = (after[key] - before[key] for key in ("decode_seconds", "requests", "batches"))
            if batches and decode:  # with several replicas, /stats is one replica's
                # The two parts of the gap to offline: the decoder's idle share, and how fast it decodes served batches.
                line += (f"; {batches} batches of {requests / batches:.1f} on average; decoder busy {decode / wall:.0%}, at "
                         f"{requests / decode:.1f} sentences/s while busy ({requests / decode / offline:.0%} of offline)")
            print(line)
        ratios = sorted(served / offline for offline, served in rounds)
        best_offline = max(offline for offline, _ in rounds)
        results["ray"] = summary(f"ray serve, concurrency {args.concurrency}, all rounds", all_latencies, all_errors, served_wall,
                                 best_offline)
        results["ray"]["ratio"] = statistics.median(ratios)
        print(f"  served/offline in the same round: median {statistics.median(ratios):.0%} (rounds: "
              f"{', '.join(f'{r:.0%}' for r in ratios)}); the served rate of all rounds against the best offline call: "
              f"{results['ray']['rate'] / best_offline:.0%}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        decoder.shutdown()
        del generator
        stop()  # removes the copy resolve_model_dir downloaded (no Ray was started here)

    # The same load on `mlflow models serve`
    if args.compare_mlflow:
        if Path(args.model).is_dir() and not (Path(args.model) / "MLmodel").is_file():
            print("mlflow models serve: skipped (a training folder is not an MLflow model; give a models:/ URI or models/mlflow/NAME)")
        else:
            with ModelServer(args.model, PROJECT_ROOT, env, log.parent / "mlflow.log", timeout=300) as server:
                latencies, errors, wall = closed_loop(server.port, sentences, args.requests, args.concurrency)
            results["mlflow"] = summary(f"mlflow models serve, concurrency {args.concurrency}", latencies, errors, wall, best_offline)

    ray = results["ray"]
    print(f"targets: >= 80% of offline (median paired round) {'met' if ray['ratio'] >= 0.8 else 'MISSED'}; "
          f"p99 <= 1 s {'met' if ray['p99'] <= 1.0 else 'MISSED'}; 0 errors {'met' if ray['errors'] == 0 else 'MISSED'} "
          f"(over {len(all_latencies)} requests)")


if __name__ == "__main__":
    main()
