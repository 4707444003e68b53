"""The registry against an MLflow tracking server on a real PostgreSQL server (MLFLOW_TRACKING_URI): register a
tiny model trained on real Multi30k pairs, gate it, and load the champion from the server in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

from seqgen.evaluation.evaluate import EvaluateConfig, evaluate
from seqgen.inference import Generator
from seqgen.models.store import load_model_dir
from seqgen.registry.register import register_and_gate as register
from seqgen.training.job import train
from helpers import task_spec_of
from tiny import TINY_EVALUATE, tiny_params


def trained_project(translation_ws, root, steps: int):
    """A project folder (data linked from the tiny workspace) with a tiny trained model and its real metrics."""
    (root / "data").mkdir(parents=True)
    for part in ("interim", "processed"):
        (root / "data" / part).symlink_to(translation_ws / "data" / part)
    params = tiny_params("translation", steps=steps)
    params["tasks"]["translation"]["evaluate"] = dict(TINY_EVALUATE, precision="fp32")
    params["tasks"]["translation"]["registry"]["floor"] = 0.0
    train("translation", "mle", params, root=root)
    metrics, _ = evaluate(load_model_dir(root / "models/translation-mle"), root / "data/interim/translation", root / "data/processed/translation",
                          EvaluateConfig(**params["tasks"]["translation"]["evaluate"]), test_sets=task_spec_of("translation").test_sets)
    (root / "metrics").mkdir()
    (root / "metrics" / "translation-mle.json").write_text(json.dumps(metrics))
    return root, params


def test_register_gate_and_load_through_a_postgres_backed_server(tracking_server, postgres_url, translation_ws, tmp_path):
    import psycopg2

    root, params = trained_project(translation_ws, tmp_path / "project", steps=80)

    record = register("translation", "mle", params, root)
    assert record["promoted"] and record["champion_after"] == record["version"]
    with psycopg2.connect(postgres_url) as db, db.cursor() as cursor:  # the registry really lives in PostgreSQL
        cursor.execute("select name from registered_models")
        assert ("translation-mle",) in cursor.fetchall()
        cursor.execute("select alias, version from registered_model_aliases where name = 'translation-mle'")
        assert dict(cursor.fetchall())["champion"] == int(record["version"])

    sentences = ["A man in a blue shirt is standing on a ladder.", "Two dogs run through the snow."]
    # The version as the register stage exported it (with its engine: CTranslate2 int8 by params.yaml), decoded in process.
    expected = Generator(root / "models/mlflow/translation-mle/artifacts/model")(sentences)
    code = "import json, sys, mlflow; print(json.dumps(mlflow.pyfunc.load_model('models:/translation-mle@champion').predict(json.loads(sys.argv[1]))))"
    out = subprocess.run([sys.executable, "-c", code, json.dumps(sentences)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


def test_a_tracking_server_that_is_down_fails_register_cleanly_and_a_retry_completes(mlflow_server, translation_ws, tmp_path, monkeypatch):
    """Registering against a server that does not answer fails with an error and changes nothing; the same
    command once the server answers (what the retrain flow's retry does) registers the model."""
    import socket

    root, params = trained_project(translation_ws, tmp_path / "project", steps=20)
    import yaml

    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = dict(__import__("os").environ, MLFLOW_HTTP_REQUEST_MAX_RETRIES="1", MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    down = subprocess.run([sys.executable, "-m", "seqgen.stages.register", "translation", "mle"], cwd=root, capture_output=True, text=True,
                          timeout=300, env=dict(env, MLFLOW_TRACKING_URI=dead))
    assert down.returncode == 1 and f"error: MLflow tracking store {dead}" in down.stderr, down.stderr[-1500:]
    assert not (root / "reports" / "promotion" / "translation-mle.json").exists()

    up = subprocess.run([sys.executable, "-m", "seqgen.stages.register", "translation", "mle"], cwd=root, capture_output=True, text=True,
                        timeout=300, env=dict(env, MLFLOW_TRACKING_URI=mlflow_server))
    assert up.returncode == 0, up.stderr[-2000:]
    record = json.loads((root / "reports" / "promotion" / "translation-mle.json").read_text())
    assert record["champion_after"] is not None
