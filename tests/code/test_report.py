import json

from seqgen.stages import report


def test_report_renders_png_charts_and_logs_them_to_mlflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "metrics").mkdir()
    for name, bleu in (("translation-mle", 30.2), ("translation-gan", 30.9), ("dialogue-mle", 2.1)):
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps({"bleu": bleu, "chrf": 50.0, "bleu_f1": 0.2, "distinct_2": 0.3}))
    (tmp_path / "plots" / "train").mkdir(parents=True)
    (tmp_path / "plots" / "train" / "translation-mle.tsv").write_text(
        "step\tloss\tvalid_ppl\n25\t6.1\t\n50\t5.2\t\n50\t\t40.5\n"
    )
    assert report.main([]) == 0
    for png in ("metrics.png", "train-translation-mle.png"):
        data = (tmp_path / "plots" / "png" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    import mlflow

    (run,) = mlflow.search_runs(experiment_names=["seqgen"], output_format="list")
    assert run.data.metrics["translation-gan.bleu"] == 30.9
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "charts")}
    assert artifacts == {"charts/metrics.png", "charts/train-translation-mle.png"}
    assert (tmp_path / "mlflow.db").is_file() and list((tmp_path / "mlartifacts").rglob("metrics.png"))
