"""The report: PNG charts that need no network (DVC's HTML plots load their chart library from a CDN).

Reads metrics/*.json and plots/train/*.tsv; writes plots/png/metrics.png (BLEU and friends per model) and
plots/png/train-<task>-<family>.png (training curves), and logs the charts and the metrics of every model
to an MLflow run (the embedded SQLite store by default; `MLFLOW_TRACKING_URI` overrides).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from seqgen.console import log

OUT = Path("plots/png")


def metrics_chart(metrics: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys_of_kind = {"translation": ["bleu", "chrf"], "dialogue": ["bleu", "bleu_f1", "distinct_2"]}
    tasks: dict[str, list[str]] = {}  # task -> its metrics' keys, in the order the metrics files come
    for name, m in metrics.items():  # name: <task>-<family>
        tasks.setdefault(name.rsplit("-", 1)[0], keys_of_kind["translation" if "chrf" in m else "dialogue"])
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for axis, (task, keys) in zip(axes[0], tasks.items()):
        names = sorted(n for n in metrics if n.rsplit("-", 1)[0] == task)
        width = 0.8 / max(1, len(keys))
        for k, key in enumerate(keys):
            scale = 100.0 if key in ("bleu_f1", "distinct_2") else 1.0  # 0-1 metrics drawn as percentages
            values = [float(metrics[n].get(key, 0.0)) * scale for n in names]
            bars = axis.bar([i + k * width for i in range(len(names))], values, width, label=key + (" (x100)" if scale > 1 else ""))
            axis.bar_label(bars, fmt="%.1f", fontsize=7)
        axis.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(names))], [n.split("-", 1)[1] for n in names])
        axis.set_title(f"{task} (test)")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def training_figure(rows: list[dict[str, str]], title: str):
    """Training series in one panel, then one panel per validation metric: BLEU and perplexity share no scale,
    and a perplexity that spans more than 10x (the untrained model's at step 0 is ~1e5) is drawn on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [c for c in ("loss", "kl", "d_accuracy", "reward") if rows and c in rows[0]]
    valid = [c for c in rows[0] if c.startswith("valid_") and c != "valid_active_units"] if rows else []
    figure, axes = plt.subplots(1, 1 + len(valid), figsize=(5 * (1 + len(valid)), 3.6), squeeze=False)
    for column in series:
        points = [(int(r["step"]), float(r[column])) for r in rows if r.get(column)]
        axes[0][0].plot(*zip(*points), label=column) if points else None
    axes[0][0].set_xlabel("step")
    axes[0][0].legend(fontsize=8)
    axes[0][0].set_title(title + " (train)")
    for axis, column in zip(axes[0][1:], valid):
        points = [(int(r["step"]), float(r[column])) for r in rows if r.get(column)]
        if points:
            axis.plot(*zip(*points), marker="o")
        values = [v for _, v in points]
        if "ppl" in column and values and min(values) > 0 and max(values) > 10 * min(values):
            axis.set_yscale("log")
        axis.set_xlabel("step")
        axis.set_title(column.replace("_", " "))
    figure.tight_layout()
    return figure


def training_chart(tsv: Path, path: Path) -> None:
    with open(tsv, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    figure = training_figure(rows, tsv.stem)
    import matplotlib.pyplot as plt  # after training_figure has chosen the headless Agg backend
    figure.savefig(path, dpi=110)
    plt.close(figure)


def log_to_mlflow(metrics: dict[str, dict], charts: Path, root: Path = Path(".")) -> str:
    import mlflow

    from seqgen.tracking import configure

    configure(root)
    with mlflow.start_run(run_name="report") as run:
        mlflow.set_tag("seqgen.stage", "report")
        for name, values in metrics.items():
            mlflow.log_metrics({f"{name}.{k}": float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        mlflow.log_artifacts(str(charts), artifact_path="charts")
        return run.info.run_id


def build_report(root: Path = Path("."), to_mlflow: bool = True) -> Path:
    """The report stage's work: metrics/*.json and plots/train/*.tsv -> PNG charts under plots/png (and, with
    to_mlflow, one MLflow run holding the charts and every model's metrics); returns the charts' folder."""
    out = root / OUT
    out.mkdir(parents=True, exist_ok=True)
    metrics = {p.stem: json.loads(p.read_text()) for p in sorted((root / "metrics").glob("*.json"))}
    metrics_chart(metrics, out / "metrics.png")
    for tsv in sorted((root / "plots/train").glob("*.tsv")):
        training_chart(tsv, out / f"train-{tsv.stem}.png")
    log("report", f"wrote {len(list(out.glob('*.png')))} charts under {OUT}")
    if to_mlflow:
        log("report", f"logged charts and metrics to MLflow run {log_to_mlflow(metrics, out, root)}")
    return out
