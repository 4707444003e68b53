"""One test per expectation: a corrupted copy of a real slice fails with that expectation named;
the clean slice passes. Thresholds are the production ones from params.yaml, row bounds excepted."""

import copy
import dataclasses

import pytest

from helpers import PROJECT_ROOT, task_spec_of
from seqgen.config import from_mapping, load_params
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig, ingest
from seqgen.data.validation import ValidateConfig, failure_message, validate_task
from seqgen.io import read_jsonl, write_jsonl_atomic

SLICE_ROWS = {
    "translation": {"train": [401, 401], "valid": [40, 40], "test": [40, 40], "test2017": [40, 40]},
    "dialogue": {"train": [900, 1300], "valid": [100, 200], "test": [100, 200]},
}


def production_config(task: str) -> ValidateConfig:
    params = load_params(PROJECT_ROOT / "params.yaml")["tasks"][task]["validate"]
    params["rows"] = SLICE_ROWS[task]
    return from_mapping(ValidateConfig, params, f"tasks.{task}.validate")


@pytest.fixture(scope="module")
def clean(tmp_path_factory, raw_slices):
    """Interim splits of both tasks, ingested from the real slices."""
    root = tmp_path_factory.mktemp("interim")
    ingest(task_spec_of("translation"), TranslationDataConfig("en", "de", False), raw_slices / "multi30k", root / "translation", root / "t.json")
    ingest(task_spec_of("dialogue"), DialogueDataConfig(3, True), raw_slices / "dailydialog", root / "dialogue", root / "d.json")
    return {task: {p.stem: read_jsonl(p) for p in (root / task).glob("*.jsonl")} for task in ("translation", "dialogue")}


def run(tmp_path, task, splits, cfg=None):
    for split, rows in splits.items():
        write_jsonl_atomic(tmp_path / f"{split}.jsonl", rows)
    report, _ = validate_task(task, cfg or production_config(task), tmp_path, docs_dir=None, kind=task, languages=("en", "de") if task == "translation" else None)
    return report


def failed(report):
    return {(split, e["expectation"], e["column"]) for split, r in report["splits"].items() for e in r["expectations"] if not e["success"]}


@pytest.mark.parametrize("task", ["translation", "dialogue"])
def test_clean_real_slices_pass(tmp_path, clean, task):
    report = run(tmp_path, task, clean[task])
    assert report["success"], failure_message(report)
    assert sum(len(r["expectations"]) for r in report["splits"].values()) >= 30


def test_row_count_out_of_bounds(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["valid"] = splits["valid"][:30]
    report = run(tmp_path, "translation", splits)
    assert failed(report) == {("valid", "expect_table_row_count_to_be_between", None)}
    assert f"[valid] {tmp_path / 'valid.jsonl'}: expect_table_row_count_to_be_between" in failure_message(report)
    assert "observed 30" in failure_message(report)


def test_null_target(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["test"][3]["target"] = None
    assert ("test", "expect_column_values_to_not_be_null", "target") in failed(run(tmp_path, "translation", splits))


def test_empty_and_whitespace_only_lines(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["train"][10]["source"] = ""
    report = run(tmp_path, "translation", splits)
    assert ("train", "expect_column_value_lengths_to_be_between", "source") in failed(report)
    assert "train-11: source=''" in failure_message(report)


def test_control_characters(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["valid"][0]["target"] += "\x1b[0m"
    report = run(tmp_path, "translation", splits)
    assert failed(report) == {("valid", "expect_column_values_to_not_match_regex", "target")}


def test_over_long_sentence(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["test"][5]["target"] = " ".join(["Wort"] * 200)
    assert ("test", "expect_column_values_to_be_between", "target_tokens") in failed(run(tmp_path, "translation", splits))


def test_duplicate_rate(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["train"] = splits["train"][:380] + splits["train"][:21]
    assert failed(run(tmp_path, "translation", splits)) == {("train", "expect_column_values_to_be_unique", "example")}


def test_length_ratio(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    for row in splits["train"][:5]:
        row["target"] = "Ja."
    assert ("train", "expect_column_values_to_be_between", "length_ratio") in failed(run(tmp_path, "translation", splits))


def test_untranslated_copies(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    for row in splits["train"][:3]:
        row["target"] = row["source"]
    assert failed(run(tmp_path, "translation", splits)) == {("train", "expect_column_values_to_be_in_set", "is_copy")}


def test_test_example_leaked_into_train(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    splits["train"][0] = dict(splits["test"][7], id="train-1")
    report = run(tmp_path, "translation", splits)
    assert failed(report) == {("test", "expect_column_values_to_be_in_set", "found_in_train")}
    assert "test-8" in failure_message(report)


def test_dialogue_empty_context_turn(tmp_path, clean):
    splits = copy.deepcopy(clean["dialogue"])
    splits["valid"][4]["context"][0] = ""
    assert ("valid", "expect_column_values_to_be_between", "shortest_context_turn_chars") in failed(run(tmp_path, "dialogue", splits))


def test_dialogue_leak_is_refused_when_not_dropped(tmp_path, clean):
    splits = copy.deepcopy(clean["dialogue"])
    splits["train"] += [dict(e, id=f"train-copy-{i}") for i, e in enumerate(splits["test"][:5])]
    assert failed(run(tmp_path, "dialogue", splits)) == {("test", "expect_column_values_to_be_in_set", "found_in_train")}


def test_missing_split_is_reported(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    del splits["test2017"]
    report = run(tmp_path, "translation", splits)
    assert not report["success"] and "missing splits ['test2017']" in report["error"]


def test_thresholds_come_from_config(tmp_path, clean):
    splits = copy.deepcopy(clean["translation"])
    for row in splits["train"][:3]:
        row["target"] = row["source"]
    lenient = dataclasses.replace(production_config("translation"), max_copy_rate=0.05)
    assert run(tmp_path, "translation", splits, lenient)["success"]
