"""The Prefect retrain flow on a temporary copy of the project, with slices of the real corpora and the tiny
profile: a real `prefect server start` and the served deployment end to end, and the flow under
`prefect_test_harness` for the failure case. The tests build on each other in file order.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from seqgen.corruptions import TRANSLATION, corrupt_multi30k
from helpers import PROJECT_ROOT, copy_workspace, read_gz_lines, write_gz_lines

pytestmark = pytest.mark.integration
PARAMETERS = {"tasks": ["translation"], "families": ["mle"], "profile": "tiny"}
DEPLOYMENT = "retrain/scheduled-retrain"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def registry_state(repo: Path) -> dict[str, dict[str, str]]:
    """{model: {alias: version}} and the version count, read from the workspace's own MLflow store."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    state = {}
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{model.name}'")
        state[model.name] = {"aliases": {a: str(v) for a, v in model.aliases.items()}, "versions": len(versions)}
    return state


def wait_until(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f":\n{log.read_text()[-3000:]}" if log else ""))
        time.sleep(1)


def wait_until_healthy(server: subprocess.Popen, url: str, what: str, log: Path) -> None:
    """Wait for a server started here to answer 200 at `url`; fail with its log if it exits or times out."""

    def healthy() -> bool:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(healthy, 120, what, log)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, built_repo) -> Path:
    root = tmp_path_factory.mktemp("retrain") / "ws"
    copy_workspace(built_repo, root)  # the data stages done: the flow trains, evaluates, registers and pushes
    return root


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on loopback with its own home (database) in a temporary folder."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    try:
        wait_until_healthy(server, f"http://127.0.0.1:{port}/api/health", "the Prefect server", log)
        yield f"http://127.0.0.1:{port}/api", home
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_the_plan_takes_the_chosen_models_stages_in_dag_order_with_the_mle_they_warm_start_from():
    retrain = load_flow(PROJECT_ROOT)
    stages, upstream = retrain.plan(["translation"], ["gan"], project=PROJECT_ROOT)
    chain = ["ingest@translation", "validate@translation", "tokenize@translation", "train-mle@translation", "train-gan@translation",
             "evaluate@translation-gan", "register@translation-gan"]
    assert set(stages) == {*chain, "frontier@translation-gan", "report"}
    assert [stage for stage in stages if stage in chain] == chain  # each after what it depends on
    assert stages.index("train-gan@translation") < stages.index("frontier@translation-gan") < stages.index("report")
    assert "train-mle@translation" in upstream["register@translation-gan"]
    assert not any("dialogue" in stage or "vae" in stage for stage in stages)


def test_served_deployment_retrains_registers_reports_and_then_does_nothing(workspace, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api, home = prefect_server
    repo = workspace / "repo"
    env = dict(os.environ, PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log = workspace / "serve.log"
    serving = subprocess.Popen([sys.executable, "-m", "seqgen.cli", "schedule"], cwd=repo, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with temporary_settings({PREFECT_API_URL: api}):
            with get_client(sync_client=True) as client:
                def deployed() -> bool:
                    assert serving.poll() is None, log.read_text()[-3000:]
                    try:
                        return client.read_deployment_by_name(DEPLOYMENT) is not None
                    except Exception:
                        return False

                wait_until(deployed, 120, "the deployment", log)
                deployment = client.read_deployment_by_name(DEPLOYMENT)
                assert deployment.schedules and deployment.schedules[0].schedule.cron == "0 3 * * 1"

                first = run_deployment(DEPLOYMENT, parameters=PARAMETERS, timeout=900)
                assert first.state.is_completed(), f"{first.state.message}\n{log.read_text()[-3000:]}"
                registry = registry_state(repo)
                assert registry["translation-mle"]["versions"] == 1
                cloud = subprocess.run([sys.executable, "-m", "dvc", "status", "--cloud", "register@translation-mle"], cwd=repo,
                                       capture_output=True, text=True).stdout
                assert "Cache and remote 'storage' are in sync" in cloud, cloud  # the flow pushed what it built
                artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["retrain-report"])))
                assert artifacts and "| train-mle@translation | ran |" in artifacts[-1].data
                assert "translation-mle" in artifacts[-1].data and "promotion" in artifacts[-1].data

                started = time.monotonic()
                second = run_deployment(DEPLOYMENT, parameters=PARAMETERS, timeout=300)
                elapsed = time.monotonic() - started
                assert second.state.is_completed(), second.state.message
                latest = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["retrain-report"])))
                report = next(a for a in latest if a.flow_run_id == second.id).data
                assert "| ran |" not in report, report  # nothing changed: no stage ran, no training
                assert registry_state(repo) == registry
                print(f"first run done; unchanged rerun took {elapsed:.1f} s")
    finally:
        os.killpg(serving.pid, 2)  # Ctrl-C: serve stops before the server fixture does
        try:
            serving.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serving.pid, 9)


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


def load_flow(repo: Path):
    spec = importlib.util.spec_from_file_location(f"retrain_{abs(hash(repo))}", repo / "pipelines" / "retrain.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_new_data_failing_validation_stops_the_flow_at_validate_and_keeps_champions(workspace, tmp_path, harness, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copytree(workspace, tmp_path / "ws", symlinks=True)
    repo, corpora = tmp_path / "ws" / "repo", tmp_path / "ws" / "corpora"
    before = registry_state(repo)
    assert before, "the first test leaves registered models"
    # A new data version wrong as a whole, every row clean (a lower-cased training set: drift against the accepted
    # version's profile), and wrong row-wise (a test sentence also sits in train).
    corrupt_multi30k(corpora / "multi30k", "train", next(c for c in TRANSLATION if c.name == "lower-cased"))
    for lang in ("en", "de"):
        leaked = read_gz_lines(corpora / "multi30k" / f"test_2016_flickr.{lang}.gz")[2]
        write_gz_lines(corpora / "multi30k" / f"train.{lang}.gz", read_gz_lines(corpora / "multi30k" / f"train.{lang}.gz") + [leaked])
    monkeypatch.chdir(repo)
    state = load_flow(repo).retrain(**PARAMETERS, return_state=True)
    assert state.is_failed()
    assert "DataRejected" in state.message and "validate@translation failed" in state.message
    assert "expect_column_values_to_be_in_set on column 'found_in_train'" in state.message, state.message
    assert "expect_column_mean_to_be_between on column 'source_upper'" in state.message, state.message
    assert registry_state(repo) == before
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    by_name = {run.name: run for run in runs}
    assert by_name["validate@translation"].run_count == 1  # rejected data is not retried
    assert not any(name.startswith(("tokenize", "train", "register")) for name in by_name)


class FlakyPort:
    """A loopback port in front of a real tracking server: it drops the first `down_for` connections at once
    (a server that is down), then forwards bytes both ways."""

    def __init__(self, upstream_port: int, down_for: int = 1):
        self.upstream_port, self.down_for, self.dropped = upstream_port, down_for, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.dropped < self.down_for:
                self.dropped += 1
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()


def test_tracking_server_down_at_register_then_the_prefect_retry_completes(workspace, tmp_path, harness, monkeypatch):
    """The tracking server does not answer the register stage's first attempt: the stage fails, Prefect retries
    it (StageFailed is transient), the retry registers, and there is still exactly one champion."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    shutil.copytree(workspace, tmp_path / "ws", symlinks=True)
    repo = tmp_path / "ws" / "repo"
    before = registry_state(repo)
    assert before["translation-mle"] == {"aliases": {"challenger": "1"}, "versions": 1}  # tiny model: under the floor
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tasks"]["translation"]["registry"]["floor"] = 0.0  # now it may become the first champion: register@translation-mle is stale
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    port, log = free_port(), tmp_path / "mlflow-server.log"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{repo / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=tmp_path, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                              env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"))
    flaky = None
    try:
        wait_until_healthy(server, f"http://127.0.0.1:{port}/health", "the MLflow server", log)
        flaky = FlakyPort(port, down_for=1)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{flaky.port}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the client's own retries would hide the outage
        monkeypatch.chdir(repo)
        state = load_flow(repo).retrain(tasks=["translation"], families=["mle"], profile="tiny", update=False, return_state=True)
        assert state.is_completed(), state.message
    finally:
        if flaky:
            flaky.close()
        os.killpg(server.pid, 15)
        server.wait(timeout=30)

    assert flaky.dropped == 1
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    register_run = next(run for run in runs if run.name == "register@translation-mle")
    assert register_run.run_count == 2 and register_run.state.is_completed()
    assert not any(run.name.startswith("train") and run.run_count > 1 for run in runs)
    record = json.loads((repo / "reports" / "promotion" / "translation-mle.json").read_text())
    assert record["promoted"] and record["champion_after"] == "1"
    # the same model: no new version; exactly one champion
    after = registry_state(repo)["translation-mle"]
    assert after["aliases"]["champion"] == "1" and after["versions"] == 1


def test_a_served_champion_answers_a_steady_load_through_a_retrain_and_a_blue_green_swap(workspace, tmp_path, harness, monkeypatch):
    """`mlflow models serve` of the champion answers a steady load while the retrain flow trains, evaluates and
    registers a new version that the gate promotes. The running server keeps the version it loaded at start (it never
    reloads, so no answer comes from a half-loaded model); a second server started on the new champion takes the load
    before the first stops (blue/green); no request fails, and each server gives one answer per input all its life."""
    from seqgen.io import read_jsonl
    from seqgen.loadtest import ModelServer, SteadyLoad

    shutil.copytree(workspace, tmp_path / "ws", symlinks=True)
    repo = tmp_path / "ws" / "repo"
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{repo / 'mlflow.db'}")

    def edit_params(seed: int | None = None, **registry) -> None:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["tasks"]["translation"]["registry"].update(registry)
        if seed is not None:
            params["train"]["run"]["seed"] = seed
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def retrain() -> dict:
        state = load_flow(repo).retrain(tasks=["translation"], families=["mle"], profile="tiny", update=False, push=False, return_state=True)
        assert state.is_completed(), state.message
        return json.loads((repo / "reports" / "promotion" / "translation-mle.json").read_text())

    edit_params(floor=0.0)  # the tiny model of the first test becomes the champion
    assert retrain()["champion_after"] == "1"
    sentences = [example["source"] for example in read_jsonl(repo / "data/interim/translation/test.jsonl")[:6]]
    # Seeded samples tell two tiny versions apart: their beam outputs are often both empty.
    request = {"strategy": "sample", "seed": 7}
    servers = [ModelServer("models:/translation-mle@champion", repo, dict(os.environ), tmp_path / "blue.log")]  # version 1
    try:
        load = SteadyLoad(servers[0].url, sentences, concurrency=2, params=request).start()
        # The new version: other initial weights, and a gate told to take any valid challenger, so that it swaps.
        edit_params(seed=4321, margin=-100.0, tolerance=1000.0)
        retrain_started = time.monotonic()
        record = retrain()
        retrain_ended = time.monotonic()
        assert record["promoted"] and record["champion_before"] == "1" and record["champion_after"] == "2", record
        servers.append(ModelServer("models:/translation-mle@champion", repo, dict(os.environ), tmp_path / "green.log"))  # version 2
        load.url = servers[1].url  # the load balancer's switch; blue finishes what it holds, then stops
        time.sleep(5)
        servers[0].stop()
        time.sleep(3)
        answers = load.stop()
    finally:
        for server in servers:
            server.stop()

    assert [a.error for a in answers if a.error] == []
    during = [a for a in answers if retrain_started <= a.started <= retrain_ended]
    assert during and all(a.url == servers[0].url for a in during)  # the load ran through the retrain, on the old champion
    said: dict[tuple[str, int], set[str]] = {}
    for answer in answers:
        said.setdefault((answer.url, answer.sentence), set()).add(json.dumps(answer.predictions))
    assert {key: texts for key, texts in said.items() if len(texts) > 1} == {}  # one answer per input, before and after the alias moved
    blue, green = ({i: next(iter(said[url, i])) for i in range(len(sentences)) if (url, i) in said} for url in (servers[0].url, servers[1].url))
    assert green and any(blue[i] != green[i] for i in green if i in blue), "both servers answer alike: the swap would not show"
