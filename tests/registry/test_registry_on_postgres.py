"""The registry against an MLflow tracking server on a real PostgreSQL server (MLFLOW_TRACKING_URI): register a
tiny model trained on real Multi30k pairs, gate it, and load the champion from the server in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

from seqgen.evaluation.evaluate import EvaluateConfig, evaluate
from seqgen.inference import DECODING_FILE, Generator
from seqgen.models.store import load_model_dir
from seqgen.stages.register import register
from seqgen.stages.train import train
from tiny import TINY_EVALUATE, tiny_params


def test_register_gate_and_load_through_a_postgres_backed_server(tracking_server, postgres_url, translation_ws, tmp_path):
    import psycopg2

    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    for part in ("interim", "processed"):
        (root / "data" / part).symlink_to(translation_ws / "data" / part)
    params = tiny_params("translation", steps=80)
    params["evaluate"]["translation"] = dict(TINY_EVALUATE, precision="fp32")
    params["registry"]["translation"]["floor"] = 0.0
    train("translation", "mle", params, root=root)
    metrics, _ = evaluate(load_model_dir(root / "models/translation-mle"), root / "data/interim/translation", root / "data/processed/translation",
                          EvaluateConfig(**params["evaluate"]["translation"]))
    (root / "metrics").mkdir()
    (root / "metrics" / "translation-mle.json").write_text(json.dumps(metrics))

    record = register("translation", "mle", params, root)
    assert record["promoted"] and record["champion_after"] == record["version"]
    with psycopg2.connect(postgres_url) as db, db.cursor() as cursor:  # the registry really lives in PostgreSQL
        cursor.execute("select name from registered_models")
        assert ("translation-mle",) in cursor.fetchall()
        cursor.execute("select alias, version from registered_model_aliases where name = 'translation-mle'")
        assert dict(cursor.fetchall())["champion"] == int(record["version"])

    sentences = ["A man in a blue shirt is standing on a ladder.", "Two dogs run through the snow."]
    (root / "models/translation-mle" / DECODING_FILE).write_text(json.dumps(params["evaluate"]["translation"]))
    expected = Generator(root / "models/translation-mle")(sentences)
    code = "import json, sys, mlflow; print(json.dumps(mlflow.pyfunc.load_model('models:/translation-mle@champion').predict(json.loads(sys.argv[1]))))"
    out = subprocess.run([sys.executable, "-c", code, json.dumps(sentences)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
