"""Bring your own corpus: a third task, German to English from TSV files (built from the real Multi30k slices),
declared in params.yaml and imported with `dvc import-url`, gets every stage of the DAG, runs its chain to a
registered champion on the tiny profile, with no code edited and the two built-in tasks left as they were. (The
families are the same code for every task: the vae and gan stages of a task are tests/model's and the built-in
tasks'; here they only have to exist.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from helpers import copy_workspace, read_gz_lines, sh
from seqgen.text import normalize

pytestmark = pytest.mark.integration
TASK = "de_en"


def write_tsv_corpus(slices: Path, dest: Path) -> None:
    """train.tsv and valid.tsv with a `de<TAB>en` header; no test file: the task cuts its test split from train."""
    dest.mkdir(parents=True)
    for split, stem in {"train": "train", "valid": "val"}.items():
        de = [line.decode() for line in read_gz_lines(slices / f"{stem}.de.gz")]
        en = [line.decode() for line in read_gz_lines(slices / f"{stem}.en.gz")]
        # Multi30k's one TAB-holding line is quote-wrapped; a TSV cannot hold a TAB in a field, so it stays out
        rows = ["de\ten"] + [f"{d}\t{e}" for d, e in zip(de, en) if "\t" not in d and "\t" not in e]
        (dest / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def declare_task(repo: Path) -> None:
    """The tiny profile written in, then a task entry copied from translation's and pointed at the TSV import."""
    sh("seqgen", "profile", "tiny", cwd=repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    task = copy.deepcopy(params["tasks"]["translation"])
    task["corpus"] = {"path": f"data/raw/{TASK}", "format": "tsv", "splits": {"train": "train.tsv", "valid": "valid.tsv"},
                      "columns": {"source": "de", "target": "en"}, "cut_from_train": {"test": 0.1}, "cut_seed": 7}
    task["test_sets"] = {"test": "test"}
    task["data"].update(source_lang="de", target_lang="en")
    task["validate"]["rows"] = {"train": [300, 400], "valid": [40, 40], "test": [30, 50]}
    task["registry"]["floor"] = 0.0  # a tiny model: let the first version become champion
    task["reproduce"]["tolerance"] = {"bleu": 0.5, "chrf": 0.5}
    params["tasks"][TASK] = task
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_de_en_task_from_tsv_files_gets_the_whole_dag_and_registers_a_champion(built_repo, raw_slices, tmp_path):
    repo = copy_workspace(built_repo, tmp_path / "w")
    write_tsv_corpus(raw_slices / "multi30k", tmp_path / "w" / "corpora" / "de-en-tsv")
    sh("dvc", "import-url", "-q", "../../../corpora/de-en-tsv", TASK, cwd=repo / "data" / "raw")
    before = json.loads(sh("dvc", "status", "--json", cwd=repo, merge=False).stdout or "{}")
    declare_task(repo)

    status = json.loads(sh("dvc", "status", "--json", cwd=repo, merge=False).stdout or "{}")
    assert f"ingest@{TASK}" in status and "ingest@translation" not in status and "tokenize@dialogue" not in status
    assert set(status) - set(before) <= {s for s in status if TASK in s or s.startswith(("train-", "evaluate@", "register@", "report"))}

    for family in ("mle", "vae", "gan"):
        assert {f"train-{family}@{TASK}", f"evaluate@{TASK}-{family}", f"register@{TASK}-{family}"} <= set(status)
    sh("dvc", "repro", f"register@{TASK}-mle", cwd=repo)

    report = json.loads((repo / "reports" / "ingest" / f"{TASK}.json").read_text())
    assert report["rows"]["test"] == report["cut_from_train"]["records"]["test"] == 40  # 10% of the 400 train pairs
    assert report["cut_from_train"]["seed"] == 7 and report["rows"]["train"] == 360
    german = {normalize(line.decode()) for line in read_gz_lines(raw_slices / "multi30k" / "train.de.gz")}
    train = [json.loads(line) for line in (repo / "data" / "interim" / TASK / "train.jsonl").read_text().splitlines()]
    assert all(set(e) == {"id", "source", "target"} and e["source"] in german for e in train)  # German on the source side
    model_config = json.loads((repo / "models" / f"{TASK}-mle" / "config.json").read_text())
    assert model_config["task"] == TASK and model_config["kind"] == "translation"
    metrics = json.loads((repo / "metrics" / f"{TASK}-mle.json").read_text())
    assert metrics["task"] == TASK and set(metrics["test"]) >= {"bleu", "chrf"} and metrics["test"]["examples"] == 40
    shown = sh("seqgen", "registry", "show", f"{TASK}-mle", cwd=repo).stdout
    assert f"{TASK}-mle" in shown and "champion" in shown
    translated = sh("seqgen", "translate", "--model", f"models:/{TASK}-mle@champion", "Ein Mann fährt Fahrrad.", cwd=repo, merge=False)
    assert translated.stdout.count("\n") == 1  # the new task's champion answers: one line (a 40-step model may say little)
