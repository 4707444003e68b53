"""The report: PNG charts that need no network (DVC's HTML plots load their chart library from a CDN).

Reads metrics/*.json, plots/train/*.tsv and plots/frontier/*.tsv; writes plots/png/metrics.png (BLEU and friends
per model), plots/png/train-<task>-<family>.png (training curves) and plots/png/frontier-<task>.png (quality
against diversity, every family of a task on one chart), and logs the charts and the metrics of every model to an
MLflow run (the embedded SQLite store by default; `MLFLOW_TRACKING_URI` overrides).
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


AXES = {  # task kind -> (x label, y label, whether a lower x is more diverse)
    "translation": ("pairwise BLEU (lower: more diverse)", "sample BLEU", True),
    "dialogue": ("inter-distinct-2 (higher: more diverse)", "BLEU-F1 (NLTK today)", False),
}


def frontier_chart(tables: dict[str, list[dict[str, str]]], kind: str, title: str, path: Path) -> None:
    """One chart of a task's families: a line per (family, curve) through its points, labelled by the knob's value;
    the diversity axis runs towards more diverse to the right, so a curve above another dominates it there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_label, y_label, lower_is_diverse = AXES[kind]
    colours = {"mle": "tab:blue", "vae": "tab:orange", "gan": "tab:green"}
    markers = {"sampling": "o-", "prior": "s--", "greedy": "^", "beam": "*"}
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for family, rows in tables.items():
        for curve in ("sampling", "prior", "greedy", "beam"):
            points = [(float(r["diversity"]), float(r["quality"]), r["value"]) for r in rows if r["curve"] == curve]
            if not points:
                continue
            label = {"sampling": f"{family}: temperature", "prior": f"{family}: prior scale (greedy)", "greedy": f"{family}: greedy", "beam": f"{family}: beam"}[curve]
            axis.plot([p[0] for p in points], [p[1] for p in points], markers[curve], color=colours.get(family), label=label, markersize=7 if curve in ("greedy", "beam") else 4)
            if curve in ("sampling", "prior"):
                for x, y, value in points:
                    axis.annotate(f"{float(value):g}", (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    if lower_is_diverse:
        axis.invert_xaxis()
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.set_title(title)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


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
    by_task: dict[str, dict[str, list[dict[str, str]]]] = {}
    for tsv in sorted((root / "plots/frontier").glob("*.tsv")):
        task, family = tsv.stem.rsplit("-", 1)
        by_task.setdefault(task, {})[family] = read_tsv(tsv)
    for task, tables in by_task.items():
        kind = metrics.get(f"{task}-{next(iter(tables))}", {})
        kind = "translation" if "chrf" in kind else "dialogue"
        frontier_chart(tables, kind, f"{task}: quality against diversity (validation)", out / f"frontier-{task}.png")
    log("report", f"wrote {len(list(out.glob('*.png')))} charts under {OUT}")
    if to_mlflow:
        log("report", f"logged charts and metrics to MLflow run {log_to_mlflow(metrics, out, root)}")
    return out
