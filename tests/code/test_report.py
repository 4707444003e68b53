import json

from seqgen import report
from seqgen.stages import report as report_stage


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
    assert report_stage.main([]) == 0
    for png in ("metrics.png", "train-translation-mle.png"):
        data = (tmp_path / "plots" / "png" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    import mlflow

    (run,) = mlflow.search_runs(experiment_names=["seqgen"], output_format="list")
    assert run.data.metrics["translation-gan.bleu"] == 30.9
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "charts")}
    assert artifacts == {"charts/metrics.png", "charts/train-translation-mle.png"}
    assert (tmp_path / "mlflow.db").is_file() and list((tmp_path / "mlartifacts").rglob("metrics.png"))


def test_training_chart_gives_each_validation_metric_its_own_axis_and_perplexity_a_log_scale():
    # The real full-profile curve: the untrained model's perplexity (~3e5) next to BLEU around 40.
    rows = [{"step": "0", "loss": "", "valid_bleu": "0.0", "valid_ppl": "343536.4"},
            {"step": "25", "loss": "8.8", "valid_bleu": "", "valid_ppl": ""},
            {"step": "1000", "loss": "3.0", "valid_bleu": "31.8", "valid_ppl": "9.1"},
            {"step": "2000", "loss": "2.4", "valid_bleu": "38.2", "valid_ppl": "5.5"}]
    figure = report.training_figure(rows, "translation-mle")
    panels = [(axis.get_title(), axis.get_yscale()) for axis in figure.axes]
    assert panels == [("translation-mle (train)", "linear"), ("valid bleu", "linear"), ("valid ppl", "log")]
    bleu_axis = figure.axes[1]
    assert bleu_axis.get_ylim()[1] < 100  # BLEU is readable, not squashed under the perplexity's scale
    # A curve without the untrained point keeps a linear axis (a log axis there only garbles the tick labels).
    vae = report.training_figure([{"step": "250", "kl": "2.6", "valid_ppl_elbo_bound": "5.86"},
                                  {"step": "500", "kl": "2.9", "valid_ppl_elbo_bound": "6.25"}], "translation-vae")
    assert [axis.get_yscale() for axis in vae.axes] == ["linear", "linear"]
    import matplotlib.pyplot as plt

    plt.close(figure)
    plt.close(vae)
