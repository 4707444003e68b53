"""Reproducible beyond one workspace, on slices of the real corpora and the tiny profile, in temporary copies of the
project that import their data exactly as the project does.

Clone A runs `scripts/run.sh` (what `make run` runs) and pushes to the default remote, a folder beside it; clone B
pulls and serves without training; a new data version retrains version 2, and `seqgen reproduce NAME/1` rebuilds
version 1 bit for bit from the old data version; every way reproduce can be asked the impossible ends in one
message and changes nothing; a failed push loses nothing; a real SSH remote; and a consumer with only the model's
own requirements, in a fresh virtualenv, loads the champion from a tracking server and translates.
The tests build on each other in file order.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from helpers import MULTI30K_GZ, copy_workspace, read_gz_lines, sh, write_gz_lines
from seqgen import profiles

pytestmark = pytest.mark.integration
TARGETS = ("register@translation-mle", "train-mle@dialogue")  # a registered model to serve, a dialogue model to chat with
SENTENCE = "A man is riding a bike down the street."
NO_STORE = {"MLFLOW_TRACKING_URI": ""}  # each clone's own store (mlflow.db in the clone), whatever the caller's


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def commit(repo: Path, message: str) -> str:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message, cwd=repo)
    return sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def make_run(repo: Path, *targets: str) -> str:
    """scripts/run.sh (what `make run` runs) with this test's virtualenv (never re-installed from the copy)."""
    return sh("scripts/run.sh", *targets, cwd=repo, env={"SEQGEN_VENV": sys.prefix, "SEQGEN_SKIP_SETUP": "1", **NO_STORE}).stdout


def cli(repo: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(repo / "src"), **NO_STORE, **(env or {})}
    return subprocess.run([sys.executable, "-m", "seqgen.cli", *args], cwd=repo, input=stdin, capture_output=True, text=True, env=full, timeout=600)


def registry(repo: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}", registry_uri=f"sqlite:///{repo / 'mlflow.db'}")


def remote_files(remote: Path) -> set[str]:
    return {str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def origin(tmp_path_factory, built_repo):
    """Clone A after `scripts/run.sh register@translation-mle train-mle@dialogue` on the tiny profile (the
    translation MLE a little longer, so that it says something), its models registered (floor 0: they become
    champions) and everything pushed to the default remote, a folder beside it."""
    root = tmp_path_factory.mktemp("origin") / "ws"
    repo = copy_workspace(built_repo, root)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())  # keep the slices' data stages; the rest describes the full corpora
    lock["stages"] = {name: entry for name, entry in lock["stages"].items() if name.split("@")[0] in ("ingest", "validate", "tokenize")}
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    profiles.write("tiny", repo / "params.yaml")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tasks"]["translation"]["train"]["mle"]["trainer"]["steps"] = 100
    for task in ("translation", "dialogue"):
        params["tasks"][task]["registry"]["floor"] = 0.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    trained_at = commit(repo, "slices of the corpora, tiny profile")
    consumer = start_consumer_virtualenv(root.parent / "consumer", params)  # installs meanwhile (it waits on unpacking, not on the CPU)
    output = make_run(repo, *TARGETS)
    first_run = commit(repo, "first run")
    yield {"root": root, "repo": repo, "remote": root / "seqgen-dvc-remote", "trained_at": trained_at, "first_run": first_run, "output": output,
           "consumer": consumer}
    if consumer[0].poll() is None:  # a test failed before the consumer's
        consumer[0].kill()
        consumer[0].wait()


def start_consumer_virtualenv(venv: Path, params: dict) -> tuple[subprocess.Popen, list[str]]:
    """A fresh virtualenv getting exactly what the registered translation MLE's requirements.txt will name (the test
    checks that it does: with ctranslate2 where tasks.translation.engine serves it on CTranslate2), started in the
    background: (the install, the requirements)."""
    from seqgen.ctranslate import engine_config
    from seqgen.registry.register import model_requirements

    requirements = model_requirements(engine_config(params, "translation").name)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-compile", *requirements]
    script = f"{sys.executable} -m venv {venv} && " + " ".join(pip)
    log = venv.parent / "consumer-install.log"
    return subprocess.Popen(["bash", "-c", script], stdout=log.open("w"), stderr=subprocess.STDOUT), requirements


def test_make_run_pushes_the_imports_every_output_and_the_run_cache(origin):
    repo, remote = origin["repo"], origin["remote"]
    assert "Running stage 'train-mle@dialogue'" in origin["output"] and "pushed" in origin["output"]
    cloud = sh("dvc", "status", "--cloud", cwd=repo).stdout
    assert "Cache and remote 'storage' are in sync" in cloud, cloud
    assert (remote / "runs").is_dir()  # the run-cache
    raw = yaml.safe_load((repo / "data/raw/multi30k.dvc").read_text())["outs"][0]["md5"]
    assert f"files/md5/{raw[:2]}/{raw[2:]}" in remote_files(remote)  # the data import itself


def test_a_second_clone_pulls_data_models_metrics_plots_and_serves_them_without_training(origin):
    repo, clone = origin["repo"], origin["root"] / "clone"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=origin["root"])  # beside A: the same default remote
    started = time.monotonic()
    sh("dvc", "pull", *TARGETS, "--with-deps", cwd=clone)  # what A ran (a bare `dvc pull` where every stage has run)
    print(f"dvc pull of the tiny pipeline's outputs: {time.monotonic() - started:.1f} s")
    for path in ("data/raw/multi30k", "data/processed/dialogue", "models/translation-mle/model.pt", "models/mlflow/translation-mle/MLmodel",
                 "models/dialogue-mle/model.pt", "plots/train/translation-mle.tsv", "reports/promotion/translation-mle.json",
                 "metrics/translation-mle.json"):
        assert (clone / path).exists(), path
    assert md5(clone / "models/translation-mle/model.pt") == md5(repo / "models/translation-mle/model.pt")
    assert "up to date" in sh("dvc", "status", "--with-deps", *TARGETS, cwd=clone).stdout
    repro = sh("dvc", "repro", *TARGETS, cwd=clone).stdout
    assert "Running stage" not in repro, repro  # nothing trained, nothing re-registered

    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    try:  # the pulled folder is A's champion, file for file
        champion = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/translation-mle@champion", dst_path=str(clone.parent / "champion")))
    finally:
        mlflow.set_tracking_uri(previous)
    def files(root: Path) -> dict[str, str]:  # registered_model_meta: written by each download, naming how it was asked for
        return {str(p.relative_to(root)): md5(p) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.name != "registered_model_meta"}

    assert files(champion) == files(clone / "models/mlflow/translation-mle")
    origin["champion"] = champion
    pulled = cli(clone, "translate", "--model", "models/mlflow/translation-mle", SENTENCE)
    expected = pulled.stdout
    assert pulled.returncode == 0 and expected.strip(), pulled.stderr[-2000:]  # the tiny model says something
    origin["champion_says"] = expected.rstrip("\n")
    chat = cli(clone, "chat", "--model", "models/dialogue-mle", stdin="Hi, how are you today?\n")
    assert chat.returncode == 0 and len(chat.stdout.splitlines()) == 1, chat.stderr[-2000:]  # one reply (a tiny model's may be empty)
    champion = cli(clone, "translate", SENTENCE)  # the clone's own registry is empty: the message says what to use
    assert champion.returncode == 1 and "--model models/mlflow/translation-gan" in champion.stderr

    port, log = free_port(), clone / "serve.log"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models/mlflow/translation-mle", "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], cwd=clone, stdout=log.open("w"), stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHONPATH=str(clone / "src")), start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", server, log)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps({"inputs": [SENTENCE]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.loads(response.read())["predictions"] == [[expected.rstrip("\n")]]  # one input, its one output
    finally:
        stop(server)


def test_reproduce_rebuilds_version_1_bit_identically_from_the_old_data_version(origin):
    repo, root = origin["repo"], origin["root"]
    old_version = yaml.safe_load((repo / "data/raw/multi30k.dvc").read_text())["outs"][0]["md5"]
    for lang in ("en", "de"):  # a new data version: the first training pair replaced by one from outside the slice
        path = root / "corpora" / "multi30k" / f"train.{lang}.gz"
        write_gz_lines(path, [read_gz_lines(MULTI30K_GZ / f"train.{lang}.gz")[450]] + read_gz_lines(path)[1:])
    sh("dvc", "update", "-q", "data/raw/multi30k.dvc", cwd=repo)
    make_run(repo, "register@translation-mle")
    new_commit = commit(repo, "new data version")
    client = registry(repo)
    first, second = client.get_model_version("translation-mle", "1"), client.get_model_version("translation-mle", "2")
    assert first.tags["dvc_md5:data/raw/multi30k"] == old_version != second.tags["dvc_md5:data/raw/multi30k"]
    assert first.tags["git_commit"] == origin["trained_at"] and first.tags["model_md5"] != second.tags["model_md5"]

    with (repo / "README.md").open("a") as readme:  # a dirty workspace: reproduce works beside it and leaves it so
        readme.write("\nA local note, not committed.\n")
    (repo / "scratch-notes.txt").write_text("untracked\n")
    workspace = {"status": sh("git", "status", "--porcelain", cwd=repo).stdout, "model": md5(repo / "models/translation-mle/model.pt"),
                 "worktrees": sh("git", "worktree", "list", cwd=repo).stdout, "remote": remote_files(origin["remote"])}
    result = cli(repo, "reproduce", "translation-mle/1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "translation-mle version 1: bit-identical" in result.stdout
    tags = registry(repo).get_model_version("translation-mle", "1").tags
    assert tags["reproduce.outcome"] == "bit-identical" and tags["reproduce.md5_equal"] == "true"
    assert tags["reproduce.model_md5"] == first.tags["model_md5"] and "cores" in tags["reproduce.machine"]
    assert {"status": sh("git", "status", "--porcelain", cwd=repo).stdout, "model": md5(repo / "models/translation-mle/model.pt"),
            "worktrees": sh("git", "worktree", "list", cwd=repo).stdout, "remote": remote_files(origin["remote"])} == workspace
    scratch = next(word for word in result.stderr.split() if "seqgen-reproduce-" in word).rstrip(";")
    assert not Path(scratch).exists()
    assert " M README.md" in workspace["status"] and "scratch-notes.txt" in workspace["status"]
    sh("git", "checkout", "README.md", cwd=repo)
    (repo / "scratch-notes.txt").unlink()

    clone = root / "clone"  # the old version stays reachable: `git checkout <old commit> && dvc pull`
    sh("git", "pull", "-q", cwd=clone)
    sh("dvc", "pull", "-q", "data/raw/multi30k.dvc", cwd=clone)
    from seqgen.tracking import dvc_md5

    assert dvc_md5(clone / "data/raw/multi30k") != old_version
    sh("git", "checkout", "-q", origin["trained_at"], cwd=clone)
    sh("dvc", "pull", "-q", "data/raw/multi30k.dvc", cwd=clone)
    assert dvc_md5(clone / "data/raw/multi30k") == old_version
    sh("git", "checkout", "-q", new_commit, cwd=clone)


def test_rebuilt_bytes_that_differ_are_judged_by_their_metrics(origin):
    """On another machine kind the bytes differ (bf16 or not), and the rebuilt model is judged by its metrics: evaluated
    on the version's test data, decoding as the version does, within tasks.<task>.reproduce.tolerance. Here on clone B's pulled copy
    of version 1, as reproduce() does with its rebuilt one when the md5s differ."""
    import io

    from seqgen.reproduce import compare_metrics

    repo, clone = origin["repo"], origin["root"] / "clone"
    sh("git", "checkout", "-q", origin["first_run"], cwd=clone)  # dvc.lock as the first run left it: version 1
    sh("dvc", "pull", "-q", "train-mle@translation", "--with-deps", cwd=clone)
    version = registry(repo).get_model_version("translation-mle", "1")
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "MLFLOW_TRACKING_URI": f"sqlite:///{clone / 'scratch.db'}"}
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")  # where the version's decoding.json is read from
    try:
        deltas = compare_metrics(clone, "translation-mle", "translation", "mle", version, {"translation": {"bleu": 0.5, "chrf": 0.5}},
                                 env, io.StringIO(), "translation-mle version 1", str(origin["remote"]))
    finally:
        mlflow.set_tracking_uri(previous)
    assert deltas == {"bleu": 0.0, "chrf": 0.0}  # the same model, measured again the same way


@pytest.fixture
def probe(origin, tmp_path):
    """A plain clone of A with no data (what a colleague starts from), reading A's registry."""
    clone = origin["root"] / f"probe-{tmp_path.name}"
    sh("git", "clone", "-q", str(origin["repo"]), str(clone), cwd=origin["root"])
    yield clone
    shutil.rmtree(clone, ignore_errors=True)


def tampered_store(origin, tmp_path, edit) -> str:
    import mlflow

    store = tmp_path / "tampered.db"
    shutil.copy(origin["repo"] / "mlflow.db", store)
    edit(mlflow.MlflowClient(f"sqlite:///{store}"))
    return f"sqlite:///{store}"


def without_lineage(client) -> None:
    client.delete_model_version_tag("translation-mle", "1", "lineage.train_stage")


def with_other_code(client) -> None:
    entry = json.loads(client.get_model_version("translation-mle", "1").tags["lineage.train_stage"])
    next(dep for dep in entry["deps"] if dep["path"] == "src/seqgen/training")["md5"] = "0" * 32 + ".dir"
    client.set_model_version_tag("translation-mle", "1", "lineage.train_stage", json.dumps(entry))


BAD = {
    "no lineage": ("store", without_lineage, "has no lineage tag 'lineage.train_stage'"),
    "uncommitted code": ("store", with_other_code, "was trained from code or params other than commit"),
    "shallow clone": ("shallow", None, "this is a shallow clone: run `git fetch --unshallow`"),
    "remote without the data": ("remote", "empty", "could not bring the data translation-mle version 1 was trained on"),
    "remote folder gone": ("remote", "gone", "which does not exist (moved or unmounted?)"),
    "remote unreachable": ("remote", "ssh://root@127.0.0.1:{port}/remote", "could not bring the data"),
    "no remote": ("remote", None, "has no default DVC remote"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_reproduce_that_cannot_be_done_says_what_is_missing_and_changes_nothing(origin, probe, tmp_path, monkeypatch, case):
    import mlflow

    from seqgen.reproduce import ReproduceError, reproduce

    kind, change, message = BAD[case]
    repo, where = origin["repo"], probe
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{repo / 'mlflow.db'}")
    if kind == "store":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tampered_store(origin, tmp_path, change))
    elif kind == "shallow":
        where = tmp_path / "shallow"
        sh("git", "clone", "-q", "--depth", "1", f"file://{repo}", str(where), cwd=tmp_path)
    elif change is None:
        sh("dvc", "remote", "remove", "storage", cwd=probe)
    else:
        url = {"empty": str(tmp_path), "gone": str(tmp_path / "gone")}.get(change, change.format(port=free_port()))
        sh("dvc", "remote", "modify", "--local", "storage", "url", url, cwd=probe)
    before = {"tags": registry(repo).get_model_version("translation-mle", "1").tags, "remote": remote_files(origin["remote"]),
              "status": sh("git", "status", "--porcelain", cwd=where).stdout}
    previous = mlflow.get_tracking_uri()
    try:
        with pytest.raises(ReproduceError) as raised:  # in this process: the CLI turns it into one line and exit 1 (below)
            reproduce("translation-mle/1", where, tolerance={"translation": {"bleu": 0.5}})
    finally:
        mlflow.set_tracking_uri(previous)
    assert message in str(raised.value)
    assert {"tags": registry(repo).get_model_version("translation-mle", "1").tags, "remote": remote_files(origin["remote"]),
            "status": sh("git", "status", "--porcelain", cwd=where).stdout} == before
    assert sh("git", "worktree", "list", cwd=where).stdout.count("\n") == 1


def test_the_command_line_says_it_in_one_line_and_exits_1(origin, probe):
    sh("dvc", "remote", "modify", "--local", "storage", "url", str(probe / "gone"), cwd=probe)
    result = cli(probe, "reproduce", "translation-mle/1", env={"MLFLOW_TRACKING_URI": f"sqlite:///{origin['repo'] / 'mlflow.db'}"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("seqgen reproduce: error: the DVC remote 'storage' is the folder")


def test_a_push_that_fails_loses_nothing_and_a_rerun_pushes(origin, tmp_path):
    """A read-only remote at the end of `make run`: the outputs stay in the local cache, the message says what to run,
    and the next push sends them."""
    repo = origin["repo"]
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("a read-only folder for root needs chattr +i (e2fsprogs) and root")
    readonly = tmp_path / "readonly-remote"
    readonly.mkdir()
    cache_before = remote_files(repo / ".dvc" / "cache")
    sh("dvc", "remote", "modify", "--local", "storage", "url", str(readonly), cwd=repo)
    subprocess.run(["chattr", "+i", str(readonly)], check=True)
    try:
        failed = sh("scripts/push.sh", cwd=repo, check=False, env={"SEQGEN_VENV": sys.prefix})
        assert failed.returncode == 1
        assert "the outputs are safe in the local cache (.dvc/cache)" in failed.stdout and "scripts/push.sh" in failed.stdout
        assert remote_files(repo / ".dvc" / "cache") == cache_before and not any(readonly.iterdir())
    finally:
        subprocess.run(["chattr", "-i", str(readonly)], check=True)
    try:
        sh("scripts/push.sh", cwd=repo, env={"SEQGEN_VENV": sys.prefix})
        assert "Cache and remote 'storage' are in sync" in sh("dvc", "status", "--cloud", cwd=repo).stdout
    finally:
        (repo / ".dvc" / "config.local").unlink()


def test_an_ssh_remote_pushes_and_another_clone_pulls_through_it(origin, ssh_server, tmp_path):
    repo, folder = origin["repo"], ssh_server["root"] / "dvc-remote"
    url = f"{ssh_server['url']}{folder}"

    def use_ssh(clone: Path) -> None:
        sh("dvc", "remote", "add", "--local", "-d", "team", url, cwd=clone)
        sh("dvc", "remote", "modify", "--local", "team", "keyfile", ssh_server["keyfile"], cwd=clone)

    use_ssh(repo)
    try:
        sh("dvc", "push", "--run-cache", cwd=repo)
    finally:
        (repo / ".dvc" / "config.local").unlink()
    assert folder.is_dir() and any((folder / "files").rglob("*"))
    clone = tmp_path / "over-ssh"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path)
    use_ssh(clone)
    sh("dvc", "pull", *TARGETS, "--with-deps", cwd=clone)
    assert md5(clone / "models/translation-mle/model.pt") == md5(repo / "models/translation-mle/model.pt")


def test_a_consumer_with_only_the_models_requirements_loads_the_champion_and_translates(origin, tmp_path):
    """A fresh virtualenv, outside any checkout, with exactly the registered model's requirements.txt (and so the CPU
    torch the pin takes here), loads the champion (the registered version, as downloaded from the registry) and
    translates as the champion does in the project."""
    champion = origin["champion"]  # downloaded from A's registry by the test above
    requirements = (champion / "requirements.txt").read_text().split()
    assert not any(r.startswith("seqgen") for r in requirements), requirements  # the code travels with the model
    install, installed = origin["consumer"]
    assert requirements == installed  # what the origin fixture's virtualenv got
    venv = origin["root"].parent / "consumer"
    assert install.wait(timeout=900) == 0, (venv.parent / "consumer-install.log").read_text()[-3000:]
    program = ("import json, sys, mlflow; model = mlflow.pyfunc.load_model(sys.argv[1]); "
               f"print(json.dumps(list(model.predict([{SENTENCE!r}]))))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MLFLOW"))}
    consumer = subprocess.run([str(venv / "bin" / "python"), "-c", program, str(champion)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=dict(clean, PATH=f"{venv / 'bin'}{os.pathsep}{clean['PATH']}"))
    assert consumer.returncode == 0, consumer.stderr[-3000:]
    assert json.loads(consumer.stdout.strip().splitlines()[-1]) == [[origin["champion_says"]]]
