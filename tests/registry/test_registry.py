"""The Model Registry on tiny models trained on real Multi30k slices, in a SQLite store of a temporary
project: registration with lineage, the gate, rollback, the pyfunc in a fresh process, concurrency, the CLI.

The tests of this module build on each other in file order (one registry history).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import PROJECT_ROOT, task_spec_of
from seqgen.ctranslate import file_md5
from seqgen.inference import Generator
from tiny import TINY_EVALUATE, make_workspace, tiny_params

NAME = "translation-mle"
SENTENCES = ["A man is riding a bike down the street.", "Two dogs are playing in the snow."]
# Items that are not strings, as JSON gives them: refused in process and over REST with the same message (issue 28).
NON_STRINGS = (([1, 2], "input 0: expected a string, got int"), ([None], "input 0: expected a string, got NoneType"),
               ([True], "input 0: expected a string, got bool"), ([2.5], "input 0: expected a string, got float"),
               ([["a"]], "input 0: expected a string, got list"), (["ok", {"text": "a", "b": 1}], "input 1: expected a string, got dict"),
               (["a", None], "input 1: expected a string, got NoneType"))


def first_non_string(items) -> str | None:
    """What the model must answer for a list of items: the message naming the first non-string, or None."""
    return next((f"input {i}: expected a string, got {type(item).__name__}" for i, item in enumerate(items) if not isinstance(item, str)), None)


def run_cli(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqgen.cli", *args], cwd=root, input=stdin, capture_output=True, text=True, timeout=300)


def train_and_evaluate(root: Path, steps: int, seed: int, into: Path) -> dict:
    """A tiny MLE model (more steps: better) and its real test metrics, kept in `into`."""
    from seqgen.evaluation.evaluate import EvaluateConfig, evaluate
    from seqgen.models.store import load_model_dir
    from seqgen.training.job import train

    params = tiny_params("translation", steps=steps)
    params["train"]["run"]["seed"] = seed
    train("translation", "mle", params, root=root)
    shutil.rmtree(root / ".checkpoints", ignore_errors=True)
    shutil.move(root / "models" / NAME, into)
    metrics, _ = evaluate(load_model_dir(into), root / "data/interim/translation", root / "data/processed/translation", EvaluateConfig(**TINY_EVALUATE),
                          test_sets=task_spec_of("translation").test_sets)
    return metrics


def stage(root: Path, model: Path, metrics: dict) -> None:
    """Put a model and its metrics where the register stage reads them."""
    shutil.rmtree(root / "models" / NAME, ignore_errors=True)
    shutil.copytree(model, root / "models" / NAME)
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / f"{NAME}.json").write_text(json.dumps(metrics), encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory, raw_slices):
    """A git-versioned temporary project with data, the real dvc.lock, three tiny models and a SQLite store."""
    root = make_workspace(tmp_path_factory.mktemp("registry") / "project", raw_slices, "translation")
    shutil.copy(PROJECT_ROOT / "dvc.lock", root / "dvc.lock")
    for args in (["init", "-q"], ["add", "dvc.lock"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "lock"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    zoo = root.parent / "zoo"
    zoo.mkdir()
    models = {name: (zoo / name, train_and_evaluate(root, steps, seed, zoo / name)) for name, steps, seed in
              (("good", 160, 1), ("bad", 15, 1), ("other", 15, 2))}
    params = tiny_params("translation")
    params["tasks"]["translation"]["evaluate"] = dict(TINY_EVALUATE, precision="fp32")
    params["tasks"]["translation"]["registry"].update(floor=0.0, margin=0.01, tolerance=100.0)
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"  # subprocesses use the same store
    old_cwd = os.getcwd()
    os.chdir(root)
    yield root, models, params
    os.chdir(old_cwd)
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved


def register(project, model: str, **metric_overrides) -> dict:
    from seqgen.registry.register import register_and_gate as register_stage

    root, models, params = project
    path, metrics = models[model]
    stage(root, path, {**metrics, **metric_overrides})
    return register_stage("translation", "mle", params, root)


def alias(name: str) -> str:
    return str(client().get_model_version_by_alias(NAME, name).version)


def client():
    import mlflow

    return mlflow.MlflowClient()


def test_bad_then_good_model_first_is_promoted_with_lineage_tags(project):
    root, models, _ = project
    assert models["good"][1]["bleu"] > models["bad"][1]["bleu"] + 0.01, "the fixture needs a clearly better model"
    first = register(project, "bad")
    assert first["promoted"] and first["version"] == "1" and "no champion yet" in first["reason"]
    version = client().get_model_version_by_alias(NAME, "champion")
    assert str(version.version) == "1" and alias("challenger") == "1"
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert version.tags["dvc_md5:data/processed/translation"] == next(o["md5"] for o in lock["tokenize@translation"]["outs"] if o["path"] == "data/processed/translation")
    assert version.tags["dvc_md5:data/interim/translation"] == next(o["md5"] for o in lock["ingest@translation"]["outs"] if o["path"] == "data/interim/translation")
    assert version.tags["dvc_md5:data/raw/multi30k"] == next(d["md5"] for d in lock["ingest@translation"]["deps"] if d["path"] == "data/raw/multi30k")
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert version.tags["git_commit"] == head and version.tags["git_dirty"] in ("true", "false")
    assert float(version.tags["metric.bleu"]) == pytest.approx(models["bad"][1]["bleu"])
    report = json.loads((root / "reports/promotion/translation-mle.json").read_text())
    assert report["promoted"] and report["champion_after"] == "1"
    # Its model card: the version's description and a report, naming its data, decoding, metrics, samples, limits.
    card = version.description
    assert card == (root / "reports/cards/translation-mle.md").read_text()
    for part in ("## Trained on", version.tags["dvc_md5:data/raw/multi30k"], "## How it decodes", f"| bleu | {models['bad'][1]['bleu']:.4g} |",
                 "## Sample outputs", "## Limitations", "image captions"):
        assert part in card, part
    samples = card.split("## Sample outputs")[1].split("## Limitations")[0]
    assert samples.count("<br>") >= 6  # three validation inputs, three sampled alternatives each
    # tasks.translation.engine: its weights in CTranslate2 are part of the version, their md5 tagged (issue 29).
    exported = root / "models" / "mlflow" / NAME / "artifacts" / "model"
    assert version.tags["engine"] == "ctranslate2 int8"
    assert version.tags["ctranslate2_md5"] == file_md5(exported / "ctranslate2" / "model.bin")
    assert json.loads((exported / "engine.json").read_text()) == {"engine": "ctranslate2", "compute_type": "int8"}
    assert Generator(exported).engine_name == "ctranslate2 int8" and Generator(exported, engine="torch").engine_name == "torch"


def test_better_challenger_is_promoted(project):
    second = register(project, "good")
    assert second["promoted"] and second["version"] == "2" and second["champion_before"] == "1"
    assert alias("champion") == "2"
    assert client().get_model_version(NAME, "2").tags["gate.previous_champion"] == "1"


def test_worse_challenger_is_refused_and_champion_kept(project):
    root = project[0]
    third = register(project, "other")
    assert not third["promoted"] and "does not beat" in third["reason"]
    assert alias("champion") == "2"
    assert alias("challenger") == third["version"]
    assert client().get_model_version(NAME, third["version"]).tags["gate.decision"] == "refused"
    audit = [json.loads(line) for line in (root / "reports/promotion/audit.jsonl").read_text().splitlines()]
    assert [a["promoted"] for a in audit] == [True, True, False]


def test_same_files_reuse_their_version(project):
    again = register(project, "other", ppl=123.0)  # the same files, measured again
    assert again["version"] == "3"  # a retry after a crash does not duplicate the model
    assert len(client().search_model_versions(f"name = '{NAME}'")) == 3
    assert float(client().get_model_version(NAME, "3").tags["metric.ppl"]) == 123.0  # with the new measurement


@pytest.mark.parametrize("broken", [{"bleu": math.nan}, {"bleu": None}])
def test_missing_or_nan_metrics_are_refused(project, broken, tmp_path):
    root, models, _ = project
    # A copy of the good model with a changed tokenizer byte order is a different version with the same quality.
    path, metrics = models["good"]
    variant = tmp_path / "variant"
    shutil.copytree(path, variant)
    (variant / "training.json").write_text("{}")
    config = json.loads((variant / "config.json").read_text())
    config["note"] = str(broken)
    (variant / "config.json").write_text(json.dumps(config))
    models_with_variant = dict(models, variant=(variant, {k: v for k, v in metrics.items() if k != "bleu"} | ({} if broken["bleu"] is None else broken)))
    result = register((root, models_with_variant, project[2]), "variant")
    assert not result["promoted"] and "missing or not finite" in result["reason"]
    assert alias("champion") == "2"


def test_champion_in_a_fresh_process_translates_like_the_model_in_process(project, tmp_path):
    from seqgen.inference import DECODING_FILE, Generator

    root, models, params = project
    folder = shutil.copytree(models["good"][0], tmp_path / "model")
    (folder / DECODING_FILE).write_text(json.dumps(params["tasks"]["translation"]["evaluate"]))  # as registered
    expected = Generator(folder)(SENTENCES)
    assert [len(outputs) for outputs in expected] == [1, 1]  # the default: one output per input
    code = ("import json, sys, mlflow; m = mlflow.pyfunc.load_model('models:/translation-mle@champion'); "
            "print(json.dumps(m.predict(json.loads(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(SENTENCES)], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
    assert all(expected)


def test_pyfunc_rejects_bad_input_with_clear_errors(project, caplog):
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    model = mlflow.pyfunc.load_model("models:/translation-mle@champion")
    assert model.predict(pd.DataFrame({"text": SENTENCES})) == model.predict(SENTENCES)
    for bad, message in (([""], "input 0: empty string"), (["ok", "   "], "input 1: empty string"), (["x" * 6000], "more than the limit"),
                         (pd.DataFrame({"wrong": ["a"]}), "expected one column 'text'"), (pd.DataFrame({"text": ["a", 3]}), "input 1: expected a string, got int"),
                         *NON_STRINGS):
        with pytest.raises(MlflowException, match=message):
            model.predict(bad)
    long_input = " ".join(["the man rides a bike"] * 40)  # > max_len tokens, < the character limit
    with caplog.at_level("WARNING"):
        assert len(model.predict([long_input])) == 1
    assert "truncated" in caplog.text
    # Params: the signature declares them, with the model's defaults; out-of-range values name the param.
    assert {p.name for p in model.metadata.get_params_schema().params} >= {"num_outputs", "strategy", "temperature", "top_p", "latent", "seed"}
    three = model.predict(SENTENCES, params={"num_outputs": 3, "strategy": "sample", "seed": 5})
    assert [len(outputs) for outputs in three] == [3, 3]
    assert three == model.predict(SENTENCES, params={"num_outputs": 3, "strategy": "sample", "seed": 5})
    for params, message in (({"num_outputs": 0}, "param num_outputs"), ({"num_outputs": 21}, "param num_outputs"),
                            ({"temperature": 0.0}, "param temperature"), ({"top_p": 1.5}, "param top_p"), ({"num_outputs": "many"}, "num_outputs"),
                            ({"num_outptus": 3}, "unknown param 'num_outptus'")):
        with pytest.raises(MlflowException, match=message):
            model.predict(SENTENCES, params=params)


def test_rollback_restores_the_previous_champion(project):
    root = project[0]
    result = run_cli(root, "registry", "rollback", NAME)
    assert result.returncode == 0, result.stderr
    assert alias("champion") == "1"
    again = run_cli(root, "registry", "rollback", NAME)
    assert again.returncode == 1 and "nothing to roll back to" in again.stderr
    assert alias("champion") == "1"


def test_manual_promotion_is_gated_unless_forced(project):
    root = project[0]
    (root / "params.yaml").write_text(yaml.safe_dump(project[2]))
    refused = run_cli(root, "registry", "promote", NAME, "3")
    assert refused.returncode == 3 and "refused" in refused.stdout
    assert alias("champion") == "1"
    promoted = run_cli(root, "registry", "promote", NAME, "2")
    assert promoted.returncode == 0 and alias("champion") == "2"
    forced = run_cli(root, "registry", "promote", NAME, "3", "--force")
    assert forced.returncode == 0 and "forced" in forced.stdout
    assert alias("champion") == "3"
    shown = run_cli(root, "registry", "show", NAME, "--json")
    rows = {row["version"]: row for row in json.loads(shown.stdout)}
    assert rows["3"]["aliases"] == ["champion"] and rows["3"]["data"]["data/processed/translation"] != "unknown"
    run_cli(root, "registry", "rollback", NAME)
    assert alias("champion") == "2"


def test_two_register_runs_at_once_record_both_and_one_champion(project, tmp_path):
    """Two workspaces sharing the store register different models of the same name at the same moment."""
    root, models, params = project
    before = {str(v.version) for v in client().search_model_versions(f"name = '{NAME}'")}
    workers = []
    for i, (seed, steps) in enumerate(((5, 20), (6, 25))):
        ws = tmp_path / f"ws{i}"
        shutil.copytree(root / "data", ws / "data")
        (ws / "params.yaml").write_text(yaml.safe_dump(params))
        metrics = train_and_evaluate(ws, steps, seed, ws / "trained")
        stage(ws, ws / "trained", metrics)
        workers.append(ws)
    procs = [subprocess.Popen([sys.executable, "-m", "seqgen.stages.register", "translation", "mle"], cwd=ws, stderr=subprocess.PIPE, text=True) for ws in workers]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    versions = {str(v.version): v for v in client().search_model_versions(f"name = '{NAME}'")}
    new = set(versions) - before
    assert len(new) == 2 and all("gate.decision" in versions[v].tags for v in new)
    champion = alias("champion")
    assert champion in versions
    promoted_now = [v for v in new if versions[v].tags["gate.decision"] == "promoted"]
    assert champion == (max(promoted_now, key=int) if promoted_now else "2")


def test_translate_cli_reads_arguments_files_and_stdin(project, tmp_path):
    root = project[0]
    expected = json.loads(run_cli(root, "registry", "show", NAME, "--json").stdout)  # the store is reachable
    assert expected
    by_args = run_cli(root, "translate", *SENTENCES, "--model", "models:/translation-mle@champion")
    assert by_args.returncode == 0, by_args.stderr
    assert "Warning" not in by_args.stderr  # no library warning that is not the user's to act on
    lines = by_args.stdout.splitlines()
    assert len(lines) == 2 and all(lines)
    source = tmp_path / "in.txt"
    source.write_text(f"{SENTENCES[0]}\n\n{SENTENCES[1]}\n")
    by_file = run_cli(root, "translate", "--input", str(source), "--model", "models:/translation-mle@champion")
    assert by_file.stdout.splitlines() == [lines[0], "", lines[1]]
    by_stdin = run_cli(root, "translate", "--input", "-", "--model", "models:/translation-mle@champion", stdin="\n".join(SENTENCES) + "\n")
    assert by_stdin.stdout.splitlines() == lines
    missing = run_cli(root, "translate", "hello", "--model", "models:/translation-vae@champion")
    assert missing.returncode == 1 and "cannot load model" in missing.stderr


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fuzz_rest_endpoint(post, server_pid: int) -> None:
    """Random JSON bodies (nested values, huge strings, wrong types) and raw bytes: every answer is a success
    or a client error (never 5xx), and the server's memory stays bounded."""
    import psutil
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    def rss() -> int:
        group = psutil.Process(server_pid)
        return sum(p.memory_info().rss for p in [group, *group.children(recursive=True)])

    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
    bodies = (st.builds(lambda v: json.dumps({"inputs": v}).encode(), json_values)
              | st.builds(lambda v: json.dumps(v).encode(), json_values)
              | st.builds(lambda n: json.dumps({"inputs": ["x" * n]}).encode(), st.integers(0, 2_000_000))
              | st.binary(max_size=200))
    before = rss()

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies)
    def client_errors_only(body):
        status, answer = post(body)
        assert status < 500, (body[:200], status, answer)
        try:
            sent = json.loads(body)
        except ValueError:
            return
        if isinstance(sent, dict) and list(sent) == ["inputs"] and isinstance(sent["inputs"], list) and (message := first_non_string(sent["inputs"])):
            assert status == 400 and message in answer.get("message", ""), (body[:200], status, answer)  # never a translation of str(item)

    client_errors_only()
    assert rss() - before < 1_000_000_000, "the server grew by more than 1 GB under fuzzing"


def test_mlflow_models_serve_answers_translations_and_client_errors(project):
    """`mlflow models serve` of the champion on loopback, queried over HTTP as the README shows."""
    import time
    import urllib.error
    import urllib.request

    import mlflow

    root = project[0]
    expected = mlflow.pyfunc.load_model("models:/translation-mle@champion").predict(SENTENCES)
    port = free_port()
    log = (root / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/translation-mle@champion", "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def post(body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            raw = err.read() or b"{}"
            try:
                return err.code, json.loads(raw)
            except ValueError:  # e.g. 415 for an unsupported content type answers in plain text
                return err.code, {"message": raw.decode(errors="replace")}

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (root / "serve.log").read_text()[-3000:]
                time.sleep(0.5)
        assert post(json.dumps({"inputs": SENTENCES}).encode()) == (200, {"predictions": expected})
        frame = {"dataframe_split": {"columns": ["text"], "data": [[SENTENCES[0]]]}}
        assert post(json.dumps(frame).encode()) == (200, {"predictions": expected[:1]})
        request = {"num_outputs": 3, "strategy": "sample", "temperature": 0.8, "seed": 11}
        sampled = mlflow.pyfunc.load_model("models:/translation-mle@champion").predict(SENTENCES, params=request)
        assert post(json.dumps({"inputs": SENTENCES, "params": request}).encode()) == (200, {"predictions": sampled})
        for params, message in (({"num_outputs": 0}, "param num_outputs"), ({"temperature": -1}, "param temperature"), ({"top_p": 0}, "param top_p"),
                                ({"num_outptus": 3}, "unknown param 'num_outptus'")):
            status, answer = post(json.dumps({"inputs": SENTENCES, "params": params}).encode())
            assert status == 400 and message in answer.get("message", ""), (params, status, answer)
        fuzz_rest_endpoint(post, server.pid)
        for body, message in ((json.dumps({"inputs": [""]}).encode(), "empty string"), (json.dumps({"dataframe_split": {"columns": ["wrong"], "data": [["a"]]}}).encode(), "expected one column 'text'"),
                              (b"not json", ""), (json.dumps({"inputs": ["x" * 6000]}).encode(), "limit"),
                              *((json.dumps({"inputs": items}).encode(), message) for items, message in NON_STRINGS),
                              (json.dumps({"instances": [{"text": "a"}, {"text": 7}]}).encode(), "input 1: expected a string, got int"),
                              (json.dumps({"inputs": {"text": ["a", None]}}).encode(), "input 1: expected a string, got NoneType"),
                              (json.dumps({"dataframe_split": {"columns": ["text"], "data": [["a"], [False]]}}).encode(), "input 1: expected a string, got bool"),
                              (json.dumps({"dataframe_records": [{"text": 1.5}]}).encode(), "input 0: expected a string, got float")):
            status, answer = post(body)
            assert status == 400 and message in answer.get("message", ""), (body[:200], status, answer)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_champion_is_reevaluated_when_the_test_data_changed(project, tmp_path):
    """New test data: the champion's old metrics are not comparable, so the gate measures it again."""
    from seqgen.data.tokenization import Tokenizer, encode_split, save_encoded
    from seqgen.io import read_jsonl, write_jsonl_atomic

    root, models, params = project
    interim, processed = root / "data/interim/translation", root / "data/processed/translation"
    for split in ("test", "test2017"):
        kept = read_jsonl(interim / f"{split}.jsonl")[:25]
        write_jsonl_atomic(interim / f"{split}.jsonl", kept)
        save_encoded(processed / f"{split}.npz", encode_split(Tokenizer(processed / "spm.model"), "translation", kept))
    champion_before = alias("champion")
    metrics = train_and_evaluate(root, 20, 9, tmp_path / "fresh")
    record = register((root, dict(models, fresh=(tmp_path / "fresh", metrics)), params), "fresh")
    assert record["champion_reevaluated"] and record["champion_before"] == champion_before
    tags = client().get_model_version(NAME, champion_before).tags
    remeasured = json.loads(next(v for k, v in tags.items() if k.startswith("reevaluated.")))
    assert remeasured["bleu"] == pytest.approx(record["champion_metrics"]["bleu"])
    assert float(tags["metric.bleu"]) != pytest.approx(remeasured["bleu"])  # the old figure was on other data


def test_pyfunc_fuzzed_with_random_text_answers_or_refuses_cleanly(project):
    """Property: any list of strings gets one output string per input or an MlflowException naming the
    input (a client error); a list with a non-string item is refused naming the first one; never another exception."""
    import mlflow
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from mlflow.exceptions import MlflowException

    model = mlflow.pyfunc.load_model("models:/translation-mle@champion")

    strings = st.text(max_size=300) | st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)
    others = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(st.text(max_size=5), max_size=2)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(strings, min_size=1, max_size=4) | st.lists(strings | others, min_size=1, max_size=4))
    def answers_or_refuses(texts):
        try:
            outputs = model.predict(texts)
        except MlflowException as err:
            assert "input" in str(err)
            if message := first_non_string(texts):
                assert message in str(err)
            return
        assert first_non_string(texts) is None, texts
        assert isinstance(outputs, list) and len(outputs) == len(texts)
        assert all(isinstance(group, list) and len(group) == 1 and isinstance(group[0], str) for group in outputs)

    answers_or_refuses()


def test_register_killed_between_logging_and_gate_then_retried(project, tmp_path):
    """The process dies after the version is logged but before the gate: the champion is untouched and
    consistent; the retry reuses that version (no duplicate) and decides."""
    root, models, params = project
    champion_before = alias("champion")
    versions_before = len(client().search_model_versions(f"name = '{NAME}'"))
    metrics = train_and_evaluate(root, 25, 11, tmp_path / "late")
    stage(root, tmp_path / "late", metrics)
    dies = ("import os, sys; import seqgen.registry.register as r; r.gate = lambda *a, **k: os._exit(9); "
            "from seqgen.stages.register import main; sys.exit(main(['translation', 'mle']))")
    killed = subprocess.run([sys.executable, "-c", dies], cwd=root, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr[-3000:]
    assert alias("champion") == champion_before
    logged = client().search_model_versions(f"name = '{NAME}'")
    assert len(logged) == versions_before + 1
    orphan = max(logged, key=lambda v: int(v.version))
    assert "gate.decision" not in orphan.tags  # logged, never decided

    retry = subprocess.run([sys.executable, "-m", "seqgen.stages.register", "translation", "mle"], cwd=root, capture_output=True, text=True, timeout=300)
    assert retry.returncode == 0, retry.stderr[-2000:]
    after = client().search_model_versions(f"name = '{NAME}'")
    assert len(after) == versions_before + 1  # the retry reused the orphan
    assert "gate.decision" in client().get_model_version(NAME, str(orphan.version)).tags
    assert alias("champion") in {champion_before, str(orphan.version)}


def test_new_serving_defaults_make_a_version_that_replaces_its_champion(project, tmp_path):
    """The champion's own files under new tasks.<task>.serve defaults: a new version (its signature's defaults differ),
    promoted without a margin (its metrics are the champion's by construction), answering with the new defaults."""
    import copy

    import mlflow

    from seqgen.registry.register import register_and_gate

    root, _, params = project
    champion = client().get_model_version_by_alias(NAME, "champion")
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{NAME}/{champion.version}", dst_path=str(tmp_path)))
    stage(root, local / "artifacts" / "model", {**version_metrics_of(champion), "bleu": 0.0})  # metrics do not decide here
    changed = copy.deepcopy(params)
    changed["tasks"]["translation"]["serve"].update(strategy="sample", temperature=0.5, num_outputs=2)
    record = register_and_gate("translation", "mle", changed, root)
    assert record["promoted"] and "new serving defaults" in record["reason"], record
    assert record["version"] != str(champion.version) and alias("champion") == record["version"]
    served = mlflow.pyfunc.load_model("models:/translation-mle@champion").predict(SENTENCES)
    assert [len(outputs) for outputs in served] == [2, 2]  # the new default: two sampled outputs


def version_metrics_of(version) -> dict:
    from seqgen.registry.register import version_metrics

    return version_metrics(version)
