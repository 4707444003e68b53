"""A served model under steady load, for the benchmark and the test of a retrain under load (issue 28):
`mlflow models serve` of a registered model on loopback, and client threads that keep one sentence a request in
flight, recording each answer, its latency and any error. The target URL can be switched while the load runs (what
a load balancer does in a blue/green swap), so a swap from one server to another is measured request by request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ModelServer:
    """`mlflow models serve -m <uri>` on a free loopback port, run from `cwd` with `env` (its tracking store);
    its output goes to `log`. `with ModelServer(...) as server:` waits until it answers /ping."""

    def __init__(self, model_uri: str, cwd: Path, env: dict[str, str], log: Path, timeout: float = 180):
        self.model_uri, self.log, self.port = model_uri, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
                                         "-h", "127.0.0.1", "-p", str(self.port)], cwd=cwd, env=env, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/ping", timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the model server for {model_uri} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Answer:
    sentence: int  # index into the load's sentences
    url: str  # the server that answered
    started: float  # time.monotonic() when the request was sent
    latency: float  # seconds
    predictions: list | None  # the answer's "predictions", or None on an error
    error: str | None


def post(url: str, body: dict, timeout: float = 120) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, {"message": (err.read() or b"").decode(errors="replace")}


class SteadyLoad:
    """`concurrency` client threads, each sending one sentence a request (with `params`, if given) to `self.url` as
    soon as its last answer came: a closed loop, so the load follows what the server can take without piling up. Start with `start()`,
    switch servers by setting `url`, end with `stop()`; `answers` holds every request, errors included."""

    def __init__(self, url: str, sentences: list[str], concurrency: int = 2, params: dict | None = None):
        self.url, self.sentences, self.concurrency = url, sentences, concurrency
        self.body = {"params": params} if params else {}  # the request params every request carries
        self.answers: list[Answer] = []
        self._lock, self._stop, self._next = threading.Lock(), threading.Event(), 0
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(concurrency)]

    def _client(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                i, self._next = self._next % len(self.sentences), self._next + 1
            url, started = self.url, time.monotonic()
            try:
                status, answer = post(url, {"inputs": [self.sentences[i]], **self.body})
                error = None if status == 200 and len(answer.get("predictions", [])) == 1 else f"HTTP {status}: {answer}"
            except (OSError, ValueError) as err:
                status, answer, error = 0, {}, repr(err)
            record = Answer(i, url, started, time.monotonic() - started, answer.get("predictions") if error is None else None, error)
            with self._lock:
                self.answers.append(record)

    def start(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=180)
        return self.answers


def latency_summary(answers: list[Answer]) -> str:
    """'N requests, E errors, p50 X ms, p99 Y ms' over the answers given."""
    latencies = sorted(a.latency for a in answers)
    if len(latencies) < 2:
        return f"{len(latencies)} requests"
    q = statistics.quantiles(latencies, n=100)
    errors = sum(1 for a in answers if a.error)
    return f"{len(answers)} requests, {errors} errors, p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
