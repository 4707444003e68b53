"""Batched REST serving of a seqgen model on Ray Serve: concurrent requests share one decode call.

Why: `mlflow models serve` decodes every HTTP request alone, so a beam search over one sentence pays the whole cost of
a decoder call (about 13 requests/s at concurrency 8 here), while the same model decodes about 150 sentences/s
offline, in batches. Ray Serve is the tool the issue names and the one Made-With-ML serves with; `@serve.batch`
gathers the requests that arrive within a few milliseconds into one call, and the same application runs several
replicas (`--replicas`) or on a Ray cluster (`RAY_ADDRESS=...`: the model folder must then be readable on every
node) with no change to the code. One replica on a Ray of our own runs in Serve's throughput-optimized mode, where
the replica answers HTTP itself (direct ingress, no proxy hop: see use_direct_ingress). Measured with
bench/bench_batched_serve.py (2 cores, beam 5, one sentence a request, 32 clients; docs/EXPERIMENTS.md): about 100
requests/s for the translation champion on CTranslate2 int8, p99 0.45 s, where `mlflow models serve` of the same
model with our decoder answers about 13.

The REST contract is `mlflow models serve`'s for our pyfunc, so its clients work unchanged:
- POST /invocations {"inputs": [...], "params": {...}} (or "instances", "dataframe_split", "dataframe_records")
  -> {"predictions": [[...], ...]}: for each input, its num_outputs strings;
- a bad request -> HTTP 400 {"error_code": "INVALID_PARAMETER_VALUE", "message": ...} with the pyfunc's own message
  (seqgen.inference's rules), found before the request joins a batch, so it never fails the others; an unreadable
  body or one without exactly one input field -> 400 with "BAD_REQUEST", as MLflow answers;
- GET /ping (or /health) -> 200 once the model is loaded; GET /stats -> what the answering replica has batched.

How requests are batched: every request is validated on arrival and then queued as (clean texts, Request).
`@serve.batch` collects what arrives within --batch-wait-ms of a first request (up to --max-batch-size requests);
the replica's one decoder takes the collected batches that wait (all those that came while it was busy, up to
--max-batch-size requests; after a decode it first waits up to --refill-wait-ms for that many) and groups their
requests: requests whose decoding is deterministic (beam or greedy, no latent draw) and whose params are equal form
one group, decoded by one Generator call on their texts put together (in chunks of at most MAX_BATCH outputs) and
split back; a request that samples (strategy "sample" or latent
"sample") is decoded alone, seeded by its own seed, so it gets exactly the outputs it gets in process. The decoder
runs on a worker thread, so the replica keeps accepting requests while it decodes.

    python -m seqgen.serving --model models:/translation-mle@champion --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Read when Ray starts: no usage report (the machine may be offline); replicas at the priority of any other program
# (Ray starts its workers at nice 15: below the clients of a load on the same machine, or a training job beside it).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_worker_niceness", "0")

from ray import serve  # noqa: E402
from starlette.requests import Request as HttpRequest  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse  # noqa: E402

from seqgen.errors import SeqgenError  # noqa: E402

log = logging.getLogger(__name__)

INPUT_FIELDS = ("dataframe_split", "dataframe_records", "instances", "inputs")  # MLflow's scoring protocol
DEFAULT_MAX_BATCH_SIZE = 32  # requests per batch: the bench's concurrency, so one batch can hold every client
DEFAULT_BATCH_WAIT_MS = 5.0  # how long the first request of a batch waits for others (its latency cost when alone)
# After a decode, how long the next one waits for the clients it just answered to send again, unless max_batch_size
# requests already wait. Without it, 32 closed-loop clients split into two groups of about 16 that take turns, and a
# decode of 16 sentences costs more per sentence than one of 32 (bench/bench_batched_serve.py, docs/EXPERIMENTS.md).
DEFAULT_REFILL_WAIT_MS = 15.0
WAITING_BATCHES = 8  # batches a replica holds while it decodes (max_ongoing_requests: this x max_batch_size)
_DOWNLOADS: list[Path] = []  # temporary copies of registered models, removed by stop()


def resolve_model_dir(model: str) -> Path:
    """The folder that seqgen.inference.Generator loads, from what `seqgen translate --model` accepts: a trained model
    folder (models/<task>-<family>, with config.json), a registered model's local copy (models/mlflow/<name>, with
    MLmodel: its model is artifacts/model), or an MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION,
    runs:/...), downloaded from the tracking store (MLFLOW_TRACKING_URI, else the project's mlflow.db) into a
    temporary folder."""
    folder = Path(model)
    if folder.is_dir() and (folder / "config.json").is_file():  # the rule of seqgen.commands.load_predictor
        return folder.resolve()
    if folder.is_dir() and (folder / "MLmodel").is_file():
        return _registered_model(folder, model)
    if folder.exists() or "://" not in model and ":/" not in model:
        raise SeqgenError(f"{model}: neither a trained model folder (config.json) nor a registered model's copy (MLmodel) "
                          "nor an MLflow model URI such as models:/translation-mle@champion")
    import mlflow
    from mlflow.exceptions import MlflowException

    from seqgen.tracking import default_uri

    # Only read the store (seqgen.tracking.configure would also create the experiment in it).
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or default_uri(Path(".")))
    download = Path(tempfile.mkdtemp(prefix="seqgen-serve-"))
    _DOWNLOADS.append(download)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model, dst_path=str(download)))
    except (MlflowException, OSError) as err:
        shutil.rmtree(download, ignore_errors=True)
        from seqgen.commands import load_error

        raise load_error(model, err) from None
    return _registered_model(local, model)


def _registered_model(folder: Path, model: str) -> Path:
    """The seqgen model folder inside an MLflow model folder: its pyfunc artifact "model" (artifacts/model as `seqgen`
    registers it)."""
    import yaml

    spec = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    artifact = ((spec.get("flavors") or {}).get("python_function") or {}).get("artifacts", {}).get("model", {})
    inner = folder / (artifact.get("path") if isinstance(artifact, dict) and artifact.get("path") else "artifacts/model")
    if not (inner / "config.json").is_file():
        raise SeqgenError(f"{model}: an MLflow model without a seqgen model in its artifacts (not one `seqgen` registered)")
    return inner.resolve()


class BadRequest(ValueError):
    """A request MLflow's scoring server refuses before the model sees it (unreadable body, wrong input fields)."""


def parse_request(payload: Any, defaults) -> tuple[list[str], Any]:
    """(clean input texts, seqgen.inference.Request) of a decoded JSON body, or BadRequest / InputError with the
    message MLflow's scoring server and our pyfunc give for it. The checks run in the pyfunc's order (non-string
    items, then params, then the texts), so a request with several faults is refused for the same one."""
    from seqgen.inference import MAX_BATCH, InputError, check_inputs, check_request
    from seqgen.registry.pyfunc_model import INPUT_COLUMN, non_string_item, request_items

    if not isinstance(payload, dict):
        raise BadRequest(f"The input must be a JSON dictionary with exactly one of the input fields {set(INPUT_FIELDS)}. "
                         f"Received {type(payload).__name__}.")
    fields = [key for key in INPUT_FIELDS if key in payload]
    if len(fields) != 1:
        raise BadRequest(f"The input must be a JSON dictionary with exactly one of the input fields {set(INPUT_FIELDS)}. "
                         f"Received dictionary with input fields: {list(payload)}.")
    field = fields[0]
    columns = _columns(payload[field]) if field.startswith("dataframe") else None
    if columns is not None and columns not in ([INPUT_COLUMN], [0]):
        raise InputError(f"expected one column {INPUT_COLUMN!r}, got columns {columns}")
    items = request_items(payload)
    if message := non_string_item(items):
        raise InputError(message)
    request = check_request(payload.get("params"), defaults)
    value = payload[field]
    texts = check_inputs(value if isinstance(value, str) else items)  # a bare string: "expected a list of strings"
    if len(texts) * request.num_outputs > MAX_BATCH:  # Generator.__call__'s rule and words
        raise InputError(f"{len(texts)} inputs x num_outputs {request.num_outputs} is more than {MAX_BATCH} outputs per call")
    return texts, request


def _columns(frame: Any) -> list | None:
    """The column names of a dataframe_split / dataframe_records frame, where it names them."""
    if isinstance(frame, dict) and isinstance(frame.get("columns"), list):
        return frame["columns"]
    if isinstance(frame, list):
        names = {tuple(record) for record in frame if isinstance(record, dict)}
        if len(names) == 1:
            return list(next(iter(names)))
    return None


def samples(request) -> bool:
    """Whether a request draws random numbers (its outputs then depend on what else shares its decoder call)."""
    return request.strategy == "sample" or request.latent == "sample"


def groups(items: list[tuple[list[str], Any]]) -> list[list[int]]:
    """Positions of the batch's items that one decoder call can answer together: equal deterministic requests share a
    group (in arrival order); each sampling request is a group of its own."""
    shared: dict[tuple, list[int]] = {}
    out: list[list[int]] = []
    for position, (_, request) in enumerate(items):
        if samples(request):
            out.append([position])
            continue
        key = dataclasses.astuple(request)
        if key not in shared:
            shared[key] = []
            out.append(shared[key])
        shared[key].append(position)
    return out


def chunks(texts: list[str], num_outputs: int, limit: int) -> list[list[str]]:
    """texts in consecutive slices of at most limit // num_outputs, so that no call asks for more than limit outputs."""
    size = max(1, limit // num_outputs)
    return [texts[start:start + size] for start in range(0, len(texts), size)]


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


@serve.deployment(max_constructor_retry_count=1, graceful_shutdown_timeout_s=5)
class BatchedModel:
    """One replica: a seqgen.inference.Generator answering the MLflow scoring protocol, batching concurrent requests."""

    def __init__(self, model_dir: str, threads: int, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
                 batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS, refill_wait_ms: float = DEFAULT_REFILL_WAIT_MS) -> None:
        import torch

        import seqgen.registry.pyfunc_model  # noqa: F401 (parse_request's rules: imported now, not by the first request)
        from seqgen.inference import Generator

        # Ray starts workers with OMP_NUM_THREADS=1; the decode thread gets `threads` (torch's count is per thread).
        self.generator = Generator(Path(model_dir), threads=threads)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="decode", initializer=torch.set_num_threads, initargs=(threads,))
        self.collect.set_max_batch_size(max_batch_size)
        self.collect.set_batch_wait_timeout_s(batch_wait_ms / 1000)
        self.max_batch_size = max_batch_size
        self.refill_wait_s = refill_wait_ms / 1000
        self.waiting: list[tuple[list, asyncio.Future]] = []  # batches Serve collected, not yet decoded
        self.arrived: asyncio.Event | None = None  # set when a batch joins self.waiting (made on the replica's loop)
        self.decoder: asyncio.Task | None = None
        self.stats = {"requests": 0, "batches": 0, "largest_batch": 0, "decode_calls": 0, "decode_seconds": 0.0}
        self.settings = {"model_dir": str(model_dir), "threads": self.executor.submit(torch.get_num_threads).result(),
                         "max_batch_size": max_batch_size, "batch_wait_ms": batch_wait_ms, "refill_wait_ms": refill_wait_ms}

    async def __call__(self, request: HttpRequest):
        path = request.url.path.rstrip("/") or "/"
        if request.method == "GET" and path in ("/ping", "/health"):
            return PlainTextResponse("\n")  # what `mlflow models serve` answers
        if request.method == "GET" and path == "/stats":
            return JSONResponse({**self.stats, **self.settings})
        if path != "/invocations":
            return error_response(404, "ENDPOINT_NOT_FOUND", f"no {request.method} {path}: POST /invocations, GET /ping, GET /stats")
        if request.method != "POST":
            return error_response(405, "BAD_REQUEST", "/invocations takes POST")
        from seqgen.inference import InputError

        try:
            texts, decoding = parse_request(json.loads(await request.body()), self.generator.defaults)
        except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
            if isinstance(err, InputError):
                return error_response(400, "INVALID_PARAMETER_VALUE", str(err))
            if isinstance(err, BadRequest):
                return error_response(400, "BAD_REQUEST", f"Invalid input. {err}")
            return error_response(400, "BAD_REQUEST", f"Invalid input. Ensure that input is a valid JSON formatted string. Error: '{err!r}'")
        self.stats["requests"] += 1
        outputs = await self.collect((texts, decoding))
        if isinstance(outputs, Exception):
            return error_response(500, "INTERNAL_ERROR", f"{type(outputs).__name__}: {outputs}")
        return JSONResponse({"predictions": outputs})

    # The settings here are placeholders: __init__ sets the deployment's own (set_max_batch_size, ...). Serve starts a
    # new batch while the last one decodes (up to WAITING_BATCHES of them), and hands each over as soon as its wait is
    # over; left at that, a busy replica decodes the few requests that arrived within one wait, one batch after the
    # other (1.5 requests a decode at concurrency 32 here). So the batches that came while the decoder was busy are
    # decoded together, in one pass, by decode_waiting.
    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_MS / 1000,
                 max_concurrent_batches=WAITING_BATCHES)
    async def collect(self, items: list[tuple[list[str], Any]]) -> list:
        """For each (texts, request) item, its outputs, or the exception that failed its group (never the batch)."""
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((items, done))
        if self.arrived is not None:
            self.arrived.set()
        if self.decoder is None or self.decoder.done():
            self.decoder = asyncio.create_task(self.decode_waiting())
        return await done

    async def decode_waiting(self) -> None:
        """The replica's one decoder: while batches wait, take the oldest ones, up to max_batch_size requests (one batch
        at least), and decode them together on the decode thread, off the event loop. After each decode, wait up to
        refill_wait_s for max_batch_size requests (the clients just answered send their next ones within a few ms)."""
        loop = asyncio.get_running_loop()
        decoded = False
        self.arrived = self.arrived or asyncio.Event()
        while self.waiting:
            deadline = loop.time() + (self.refill_wait_s if decoded else 0.0)
            while (left := deadline - loop.time()) > 0 and sum(len(items) for items, _ in self.waiting) < self.max_batch_size:
                self.arrived.clear()
                try:
                    await asyncio.wait_for(self.arrived.wait(), left)
                except asyncio.TimeoutError:
                    break
            decoded = True
            taken = [self.waiting.pop(0)]
            while self.waiting and sum(len(items) for items, _ in taken) + len(self.waiting[0][0]) <= self.max_batch_size:
                taken.append(self.waiting.pop(0))
            items = [item for batch, _ in taken for item in batch]
            self.stats["batches"] += 1
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(items))
            try:
                results = await loop.run_in_executor(self.executor, self.decode_now, items)
            except Exception as err:  # noqa: BLE001 (decode_now answers its failures; this is the unforeseen)
                results = [err] * len(items)
            start = 0
            for batch, done in taken:
                if not done.done():
                    done.set_result(results[start:start + len(batch)])
                start += len(batch)

    def decode_now(self, items: list[tuple[list[str], Any]]) -> list:
        """Blocking (the decode thread): each group of items (see `groups`) in one Generator call, split back per item."""
        from seqgen.inference import MAX_BATCH

        results: list = [None] * len(items)
        for group in groups(items):
            request = items[group[0]][1]
            texts = [text for position in group for text in items[position][0]]
            started = time.perf_counter()
            try:
                outputs = []
                for chunk in chunks(texts, request.num_outputs, MAX_BATCH):
                    outputs += self.generator(chunk, dataclasses.asdict(request))
                    self.stats["decode_calls"] += 1
            except Exception as err:  # noqa: BLE001 (an unexpected failure answers its own group's requests, 500)
                log.exception("decoding %d inputs failed", len(texts))
                for position in group:
                    results[position] = err
                continue
            finally:
                self.stats["decode_seconds"] += time.perf_counter() - started
            start = 0
            for position in group:
                count = len(items[position][0])
                results[position] = outputs[start:start + count]
                start += count
        return results


def check_port_free(host: str, port: int) -> None:
    """SeqgenError when host:port is taken: Serve's proxy would fail to bind it with only a line in its own log, and the
    server would look started while another answers there."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the proxy binds: a closed connection's port is free
        try:
            probe.bind((host, port))
        except OSError as err:
            raise SeqgenError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def default_threads(replicas: int) -> int:
    """Torch threads per replica: the machine's cores but one (HTTP parsing and routing, in the replica or Serve's proxy,
    and the clients may share the machine) shared among the replicas, at least one each. On 2 cores, one replica under
    32 clients answered 36 requests/s with 1 thread and 28-32 with 2 (bench/bench_batched_serve.py)."""
    return max(1, ((os.cpu_count() or 1) - 1) // replicas)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def use_direct_ingress(enabled: bool, host: str, port: int) -> int:
    """Set the environment the Ray processes started next read, and return the port for Serve's HTTP proxy.

    Enabled (one replica on a Ray of our own): Ray Serve's throughput-optimized mode (RAY_SERVE_THROUGHPUT_OPTIMIZED,
    whose direct ingress lets the replica answer HTTP itself, on `port`), with the proxy, which then routes nothing we
    use, moved to a free port. The proxy hop costs a request about 4 ms of CPU, which on 2 cores is taken from the
    decoder: 93 against 75 requests/s at concurrency 32 here (docs/EXPERIMENTS.md). Disabled (several replicas, or a
    cluster): the proxy on `port` balances the replicas, as Serve does by default."""
    keys = ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT", "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT",
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S")
    if not enabled:
        for key in keys:
            os.environ.pop(key, None)
        return port
    # The replica's port range is [min, max); the drain period bounds how long a stop waits (Serve's default is 30 s).
    os.environ.update(dict(zip(keys, ("1", str(port), str(port + 1), "1"))))
    return free_port(host)


def wait_answering(url: str, timeout: float = 60.0) -> None:
    """Until GET url/ping answers: a direct-ingress replica opens its port just after Serve calls it ready."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SeqgenError(f"the model server did not answer {url}/ping within {timeout:g} s") from None
            time.sleep(0.1)


def start(model: str, host: str = "127.0.0.1", port: int = 8000, replicas: int = 1, threads: int = 0,
          max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS,
          refill_wait_ms: float = DEFAULT_REFILL_WAIT_MS, blocking: bool = True) -> str:
    """Start Ray (a local one, or the cluster RAY_ADDRESS names) and serve `model` at http://host:port/ until SIGINT or
    SIGTERM (blocking), or return that URL at once (blocking=False; stop with `stop()`)."""
    import ray

    check_port_free(host, port)
    model_dir = resolve_model_dir(model)
    threads = threads or default_threads(replicas)
    proxy_port = use_direct_ingress(replicas == 1 and not os.environ.get("RAY_ADDRESS"), host, port)
    for name in ("ray", "ray.serve"):
        logging.getLogger(name).setLevel(logging.WARNING)
    quiet = {"log_level": "WARNING", "enable_access_log": False}  # an access-log line per request costs CPU
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING, log_to_driver=False)
    else:
        # Logical CPUs at least what the replicas reserve, so `--replicas 4` on 2 cores still schedules (oversubscribed);
        # a small object store (requests are small; /dev/shm may be too); no dashboard (nothing to reach it here).
        # address="local": a Ray of our own, even where `ray start` left one running on this machine.
        ray.init(address="local", num_cpus=max(os.cpu_count() or 1, replicas * threads), object_store_memory=128 * 2**20,
                 include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    app = BatchedModel.options(
        num_replicas=replicas,
        ray_actor_options={"num_cpus": threads},
        max_ongoing_requests=WAITING_BATCHES * max_batch_size,  # Serve's default, 5, would cap a batch at 5 requests
    ).bind(str(model_dir), threads, max_batch_size, batch_wait_ms, refill_wait_ms)
    url = f"http://{host}:{port}"
    try:
        serve.start(http_options={"host": host, "port": proxy_port}, logging_config=quiet)
        serve.run(app, route_prefix="/", logging_config=quiet)
        wait_answering(url)
    except Exception as err:  # e.g. the replica could not load the model
        reason = replica_error() or str(err).strip()
        stop()
        raise SeqgenError(f"the model server did not start: {reason}") from err
    if not blocking:
        return url
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # after ray.init, which installs a SIGTERM handler of its own
        signal.signal(signum, lambda *_: stopped.set())
    print(f"seqgen serving {model} ({replicas} replica(s), {threads} thread(s) each, batches of up to {max_batch_size} "
          f"requests, {batch_wait_ms:g} ms wait, {refill_wait_ms:g} ms refill) at {url}/invocations; Ctrl-C stops", flush=True)
    stopped.wait()
    stop()
    return url


def replica_error() -> str | None:
    """Why a deployment failed, from its replica's traceback (serve.run's own error names only the deployment): the
    exception's lines after the last frame."""
    try:
        failed = [d.message for app in serve.status().applications.values() for d in app.deployments.values() if d.message]
    except Exception:  # noqa: BLE001 (no status to read: say what serve.run said)
        return None
    if not failed:
        return None
    lines = failed[0].strip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    tail = lines[frames[-1] + 1:] if frames else lines
    return "\n".join(line for line in tail if not line.startswith("    ")).strip()[:2000] or None


def stop() -> None:
    import ray

    try:
        if ray.is_initialized():
            serve.shutdown()
    finally:
        ray.shutdown()
        while _DOWNLOADS:
            shutil.rmtree(_DOWNLOADS.pop(), ignore_errors=True)


def build_parser(prog: str = "python -m seqgen.serving") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve a seqgen model over REST with Ray Serve, batching concurrent requests into one decode call.\n"
        "The API of `mlflow models serve`: POST /invocations {\"inputs\": [...], \"params\": {...}}\n"
        "-> {\"predictions\": [[...], ...]}; GET /ping answers 200 once the model is loaded; GET /stats shows the batching.",
        epilog="examples:\n  python -m seqgen.serving --model models:/translation-mle@champion --port 8000\n"
        "  python -m seqgen.serving --model models/translation-mle --replicas 2\n"
        "  curl -s localhost:8000/invocations -H 'Content-Type: application/json' \\\n"
        "       -d '{\"inputs\": [\"A man rides a bike.\"], \"params\": {\"num_outputs\": 3}}'\n"
        "On a Ray cluster: RAY_ADDRESS=<head>:6379 (the model folder must be readable on every node).")
    parser.add_argument("--model", default="models:/translation-mle@champion",
                        help="MLflow model URI, a registered model's copy (models/mlflow/NAME) or a trained model folder (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument("--replicas", type=int, default=1, help="model copies, each a process with its own batches (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0,
                        help="decoding threads per replica, torch's or CTranslate2's (default: the cores but one, divided by the replicas; at least 1)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                        help="most requests decoded together by a replica (default: %(default)s)")
    parser.add_argument("--batch-wait-ms", type=float, default=DEFAULT_BATCH_WAIT_MS,
                        help="how long a batch waits for more requests after its first (default: %(default)s)")
    parser.add_argument("--refill-wait-ms", type=float, default=DEFAULT_REFILL_WAIT_MS,
                        help="after a decode, how long the next waits for --max-batch-size requests: the clients just "
                        "answered send again within a few ms, and one large batch decodes faster than two small ones (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m seqgen.serving") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.replicas < 1 or args.threads < 0 or args.max_batch_size < 1 or args.batch_wait_ms < 0 or args.refill_wait_ms < 0:
        print("--replicas and --max-batch-size must be at least 1, --threads, --batch-wait-ms and --refill-wait-ms at least 0",
              file=sys.stderr)
        return 2
    try:
        start(args.model, args.host, args.port, args.replicas, args.threads, args.max_batch_size, args.batch_wait_ms,
              args.refill_wait_ms)
    except SeqgenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run through the module's import name, so Ray pickles BatchedModel by reference to seqgen.serving, not __main__.
    from seqgen import serving

    sys.exit(serving.main())
