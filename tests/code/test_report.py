import json

from seqgen.stages import report


def test_report_renders_png_charts_from_metrics_and_training_logs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
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
