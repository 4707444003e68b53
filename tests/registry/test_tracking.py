"""Train and evaluate runs in MLflow: per-step curves, metrics, artifacts and lineage tags; the default store."""

from __future__ import annotations

import csv
import json
import shutil

import yaml

from helpers import PROJECT_ROOT
from seqgen.tracking import log_evaluation_run
from seqgen.tracking import log_training_run
from seqgen.tracking import configure, default_uri, project_root
from tiny import tiny_params


def test_default_store_is_the_projects_even_from_a_dvc_temp_experiment(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment_copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc123"
    experiment_copy.mkdir(parents=True)
    assert project_root(experiment_copy) == tmp_path
    assert default_uri(experiment_copy) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert configure(experiment_copy) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    import mlflow

    assert mlflow.get_experiment_by_name("seqgen").artifact_location == (tmp_path / "mlartifacts").as_uri()


def test_train_and_evaluate_runs_carry_curves_metrics_and_lineage(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
    shutil.copy(PROJECT_ROOT / "dvc.lock", tmp_path / "dvc.lock")
    curves = tmp_path / "plots" / "train" / "translation-mle.tsv"
    curves.parent.mkdir(parents=True)
    curves.write_text("step\tloss\tvalid_ppl\n1\t5.0\t\n2\t4.5\t\n3\t4.0\t30.5\n")
    (tmp_path / "models" / "translation-mle").mkdir(parents=True)
    (tmp_path / "models" / "translation-mle" / "training.json").write_text("{}")
    params = tiny_params("translation")
    log_training_run("translation", "mle", params, root=tmp_path)

    metrics = {"bleu": 12.5, "chrf": 40.0, "ppl": 20.0, "test_2017_flickr": {"bleu": 10.0}, "bleu_signature": "x"}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "translation-mle.json").write_text(json.dumps(metrics))
    (tmp_path / "reports" / "samples").mkdir(parents=True)
    (tmp_path / "reports" / "samples" / "translation-mle.jsonl").write_text("{}\n")
    log_evaluation_run("translation", "mle", params, metrics, root=tmp_path)

    client = mlflow.MlflowClient()
    runs = {r.data.tags["seqgen.stage"]: r for r in mlflow.search_runs(experiment_names=["seqgen"], output_format="list")}
    train_run, eval_run = runs["train@translation-mle"], runs["evaluate@translation-mle"]
    assert [(m.step, m.value) for m in client.get_metric_history(train_run.info.run_id, "loss")] == [(1, 5.0), (2, 4.5), (3, 4.0)]
    assert [(m.step, m.value) for m in client.get_metric_history(train_run.info.run_id, "valid_ppl")] == [(3, 30.5)]
    assert train_run.data.params["train.trainer.steps"] == str(params["tasks"]["translation"]["train"]["mle"]["trainer"]["steps"])
    assert {a.path for a in client.list_artifacts(train_run.info.run_id)} == {"translation-mle.tsv", "training.json"}
    assert eval_run.data.metrics["bleu"] == 12.5 and eval_run.data.metrics["test_2017_flickr.bleu"] == 10.0
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    processed_md5 = next(o["md5"] for o in lock["tokenize@translation"]["outs"] if o["path"] == "data/processed/translation")
    for run in (train_run, eval_run):
        assert run.data.tags["dvc_md5:data/processed/translation"] == processed_md5
        assert run.data.tags["profile"] == "custom" and "git_commit" in run.data.tags and run.data.tags["git_dirty"] in ("true", "false")
    with open(curves) as handle:
        assert len(list(csv.DictReader(handle, delimiter="\t"))) == 3


def test_lineage_is_the_train_stages_lock_entry_read_as_dvc_writes_it(tmp_path):
    """dvc.lock is YAML 1.2 (DVC writes a learning rate of 0.00003 as `3e-05`, which YAML 1.1 reads as a string); the
    entry counts as lineage only when it describes the model folder as it is."""
    from seqgen.tracking import dvc_md5, train_lineage

    model = tmp_path / "models" / "translation-gan"
    model.mkdir(parents=True)
    (model / "model.pt").write_bytes(b"weights")
    lock = {"schema": "2.0", "stages": {"train-gan@translation": {
        "cmd": "python -m seqgen.stages.train translation gan",
        "params": {"params.yaml": {"tasks.translation.train.gan": {"trainer": {"lr": 3e-05}}}},
        "outs": [{"path": "models/translation-gan", "md5": dvc_md5(model), "hash": "md5"}]}}}
    from ruamel.yaml import YAML

    with open(tmp_path / "dvc.lock", "w") as handle:
        YAML(typ="safe").dump(lock, handle)  # as DVC dumps it
    assert "3e-05" in (tmp_path / "dvc.lock").read_text()
    entry, why = train_lineage("translation", "gan", tmp_path)
    assert why == "" and entry["params"]["params.yaml"]["tasks.translation.train.gan"]["trainer"]["lr"] == 3e-05
    (model / "model.pt").write_bytes(b"other weights")  # trained outside dvc repro: the entry no longer describes it
    entry, why = train_lineage("translation", "gan", tmp_path)
    assert entry is None and "trained outside `dvc repro`" in why
