"""Batched serving on Ray Serve (seqgen.serving): `python -m seqgen.serving` started as a real server on a tiny model
trained on the real Multi30k slice. Concurrent requests are decoded together, answer what the model answers in
process and what `mlflow models serve` would (the same JSON); a bad request gets its own 400 and fails no other."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqgen.inference import Generator, InputError
from seqgen.loadtest import free_port

# Of several lengths, so a batch pads its shorter sentences.
SENTENCES = ["A dog runs.", "Two men are playing soccer in a park.", "A woman in a red coat is reading a book on a bench.",
             "Children play.", "A man rides a bike down the street.", "People watch a band play music outside at night.",
             "A cat sleeps.", "Two girls are sitting on the grass near a lake."]


@dataclass
class Server:
    url: str
    model: Path
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def burst(url: str, bodies: list, threads: int = 16) -> list[tuple[int, dict]]:
    """Every body (a dict, or raw bytes) sent at once from `threads` client threads; the answers in body order."""
    encoded = [body if isinstance(body, bytes) else json.dumps(body).encode() for body in bodies]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda body: post(url, body), encoded))


@pytest.fixture(scope="module")
def server(translation_ws, tmp_path_factory):
    """The tiny translation MLE model (trained here unless the session already has it), served by its own copy."""
    trained = translation_ws / "models" / "translation-mle"
    if not (trained / "model.pt").is_file():
        from seqgen.training.job import train
        from tiny import tiny_params

        train("translation", "mle", tiny_params("translation", steps=60), root=translation_ws)
    model = shutil.copytree(trained, tmp_path_factory.mktemp("served") / "translation-mle")
    port, log = free_port(), model.parent / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "seqgen.serving", "--model", str(model), "--port", str(port)],
                               cwd=model.parent, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                               env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    served = Server(f"http://127.0.0.1:{port}", model, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{served.url}/ping", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start (exit {process.poll()}):\n{served.log_tail()}")
                time.sleep(0.3)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)  # its own clean shutdown stops Ray (serve.shutdown, ray.shutdown)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            print(f"server log:\n{served.log_tail()}")
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever of its process group is left
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def generator(server):
    return Generator(server.model)


@pytest.fixture(scope="module")
def beam_burst(server):
    """48 requests of one sentence each (the model's default decoding: beam), sent from 16 threads at once, and the
    server's counters before and after."""
    before = get(f"{server.url}/stats")
    bodies = [{"inputs": [SENTENCES[i % len(SENTENCES)]]} for i in range(48)]
    answers = burst(server.url, bodies)
    return bodies, answers, before, get(f"{server.url}/stats")


def test_concurrent_requests_are_answered_in_batches(server, beam_burst):
    bodies, answers, before, after = beam_burst
    assert [status for status, _ in answers] == [200] * len(bodies), server.log_tail()
    assert all(len(answer["predictions"]) == 1 and len(answer["predictions"][0]) == 1 for _, answer in answers)
    requests, batches = after["requests"] - before["requests"], after["batches"] - before["batches"]
    assert requests == len(bodies)
    assert batches < requests and after["largest_batch"] > 1, after  # several requests shared a decoder call


def test_batched_answers_are_what_the_model_answers_in_process(server, generator):
    """Requests of one sentence, decoded together, each get what that sentence gets alone. (Sentences of different
    lengths can differ: seqgen.decoding.output_limit caps a whole decoder batch at 1.5 x its longest source + 10
    tokens, so a short sentence that never ends writes longer beside a long one. The tiny model never ends its
    outputs; a trained one rarely hits the cap.)"""
    for sentence in SENTENCES[:2]:
        answers = burst(server.url, [{"inputs": [sentence]} for _ in range(24)])
        assert [status for status, _ in answers] == [200] * 24
        assert [answer["predictions"] for _, answer in answers] == [generator([sentence])] * 24


def in_process_error(generator: Generator, texts, params=None) -> str:
    with pytest.raises(InputError) as refused:
        generator(texts, params)
    return str(refused.value)


def test_bad_requests_get_400_with_the_pyfunc_message_and_fail_no_other(server, generator):
    bad = {"empty string": ([""], None), "number item": ([3], None), "unknown param": (["A dog runs."], {"num_outptus": 2}),
           "bad value": (["A dog runs."], {"num_outputs": 0})}
    good = {"inputs": ["A dog runs."]}
    bodies = [good, *[{"inputs": texts, **({"params": params} if params else {})} for texts, params in bad.values()],
              b'{"inputs": ["A dog runs."', good]
    answers = burst(server.url, bodies, threads=len(bodies))
    assert answers[0][0] == 200 and answers[-1][0] == 200, answers
    assert answers[0][1]["predictions"] == answers[-1][1]["predictions"] == [generator(["A dog runs."])[0]]
    for (name, (texts, params)), (status, answer) in zip(bad.items(), answers[1:]):
        assert status == 400, (name, answer)
        assert answer == {"error_code": "INVALID_PARAMETER_VALUE", "message": in_process_error(generator, texts, params)}, name
    status, answer = answers[-2]  # malformed JSON: refused as MLflow's scoring server refuses it
    assert status == 400 and answer["error_code"] == "BAD_REQUEST" and "valid JSON" in answer["message"], answer


def test_seeded_sampling_answers_as_in_process(server, generator):
    bodies = [{"inputs": SENTENCES[:2], "params": {"strategy": "sample", "num_outputs": 3, "seed": seed}} for seed in (1, 2, 1, 3)]
    answers = burst(server.url, bodies, threads=len(bodies))
    assert [status for status, _ in answers] == [200] * len(bodies), answers
    expected = {seed: generator(SENTENCES[:2], {"strategy": "sample", "num_outputs": 3, "seed": seed}) for seed in (1, 2, 3)}
    assert [answer["predictions"] for _, answer in answers] == [expected[body["params"]["seed"]] for body in bodies]
    assert expected[1] != expected[2]
