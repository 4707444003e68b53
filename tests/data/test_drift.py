"""Drift against the last accepted data version, on slices of the real corpora.

Every whole-corpus corruption of the catalogue (src/seqgen/corruptions.py, listed in docs/RELIABILITY.md) is applied
to the official raw files of a slice, ingested as the pipeline does, and validated against the profile of the
clean slice: it fails with the drift expectations the catalogue names, while honest new data (the next lines of the
same corpus) passes. Thresholds are the production ones from params.yaml, row bounds excepted.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil

import pytest

from helpers import DAILYDIALOG_ZIP, MULTI30K_GZ, PROJECT_ROOT, read_gz_lines, read_zip_lines, write_gz_lines, write_zip_lines, zip_member
from seqgen.config import from_mapping, load_params
from seqgen.corruptions import TRANSLATION, corrupt_dailydialog, corrupt_multi30k, dialogue_corruptions
from seqgen.data.ingest import ingest_task
from seqgen.data.profile import profile_path, read_reference
from seqgen.data.validation import ValidateConfig, failure_message, validate_and_report, validate_task
from seqgen.errors import ValidationFailed

PARAMS = load_params(PROJECT_ROOT / "params.yaml")
MULTI30K_STEMS = ("train", "val", "test_2016_flickr", "test_2017_flickr")
DAILYDIALOG_SPLITS = ("train", "validation", "test")
GERMAN = [line.decode() for line in read_gz_lines(MULTI30K_GZ / "train.de.gz")[:3000]]
CATALOGUE = {"translation": TRANSLATION, "dialogue": dialogue_corruptions(GERMAN)}


def raw_slice(dest, task, start: int):
    """Block `start` of every split: 3,000 / 300 Multi30k pairs, 600 / 100 DailyDialog dialogues."""
    dest.mkdir(parents=True)
    if task == "translation":
        for gz in MULTI30K_GZ.glob("*.gz"):
            n = 3000 if gz.name.startswith("train.") else 300
            write_gz_lines(dest / gz.name, read_gz_lines(gz)[start * n:(start + 1) * n])
    else:
        for split in DAILYDIALOG_SPLITS:
            n = 600 if split == "train" else 100
            lines = read_zip_lines(DAILYDIALOG_ZIP / f"{split}.zip", zip_member(split))
            write_zip_lines(dest / f"{split}.zip", zip_member(split), lines[start * n:(start + 1) * n])
    return dest


def config(task: str) -> ValidateConfig:
    section = copy.deepcopy(PARAMS["tasks"][task]["validate"])
    section["rows"] = {split: [1, 10**6] for split in section["rows"]}
    return from_mapping(ValidateConfig, section, f"tasks.{task}.validate")


def check(root, task, raw, reference):
    ingest_task(task, PARAMS, root=root, raw_dir=raw)
    return validate_task(task, config(task), root / "data/interim" / task, None, kind=task,
                         languages=("en", "de") if task == "translation" else None, reference=reference)


def failed_drift(report) -> dict[str, set[str]]:
    """Measured column -> the splits whose drift expectation on it failed."""
    failed: dict[str, set[str]] = {}
    for split, result in report["splits"].items():
        for e in result["expectations"]:
            if "drift" in e and not e["success"]:
                failed.setdefault(e["column"], set()).add(split)
    return failed


@pytest.fixture(scope="module")
def accepted(tmp_path_factory):
    """task -> (raw slice, the profile of that slice as accepted: the reference of the next version), made once."""
    made = {}

    def get(task: str):
        if task not in made:
            root = tmp_path_factory.mktemp(f"accepted-{task}")
            raw = raw_slice(root / "raw", task, 0)
            report, profile = check(root, task, raw, None)
            assert report["success"], failure_message(report)
            assert report["reference"] is None and "first data version" in report["note"]
            made[task] = raw, profile
        return made[task]

    return get


@pytest.mark.parametrize("task", ["translation", "dialogue"])
def test_honest_new_data_passes_the_drift_checks(tmp_path, accepted, task):
    raw, profile = accepted(task)
    report, _ = check(tmp_path / "same", task, raw, profile)  # the same version again
    assert report["success"] and not failed_drift(report), failure_message(report)
    drift_checks = [e for r in report["splits"].values() for e in r["expectations"] if "drift" in e]
    assert len(drift_checks) >= 15 * len(report["splits"])
    report, _ = check(tmp_path / "next", task, raw_slice(tmp_path / "raw-next", task, 1), profile)  # the next lines
    # (its 5 pairs with "&amp;" of 3,000 are over the fixed markup threshold: a row-wise matter, not drift)
    assert not failed_drift(report), failure_message(report)
    assert report["reference"] == {"data": profile["data"], "splits": sorted(profile["splits"])}


@pytest.mark.parametrize(("task", "corruption"), [(task, c) for task, cases in CATALOGUE.items() for c in cases],
                         ids=[f"{task}: {c.name}" for task, cases in CATALOGUE.items() for c in cases])
def test_each_whole_corpus_corruption_is_stopped_by_the_drift_it_names(tmp_path, accepted, task, corruption):
    raw, profile = accepted(task)
    corrupted = tmp_path / "raw"
    shutil.copytree(raw, corrupted)
    for name in MULTI30K_STEMS if task == "translation" else DAILYDIALOG_SPLITS:
        (corrupt_multi30k if task == "translation" else corrupt_dailydialog)(corrupted, name, corruption)
    report, new_profile = check(tmp_path, task, corrupted, profile)
    assert not report["success"] and new_profile is None
    failed = failed_drift(report)
    for column in corruption.expected:  # on every split of the full corpora (bench/bench_drift.py); on a slice, on one at least
        assert failed.get(column), (corruption.name, column, failed)
    message = failure_message(report)
    assert f"on column '{corruption.expected[0]}'" in message and "drift from the last accepted version, whose value was" in message


def test_the_stage_keeps_the_accepted_profile_when_a_version_fails_and_finds_it_in_the_dvc_cache(tmp_path):
    task = "translation"
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    raw = raw_slice(tmp_path / "raw", task, 0)
    params = copy.deepcopy(PARAMS)
    params["tasks"][task]["validate"]["rows"] = {split: [1, 10**6] for split in params["tasks"][task]["validate"]["rows"]}
    ingest_task(task, params, root=root, raw_dir=raw)
    validate_and_report(task, params, root=root)
    accepted = profile_path(root, task).read_bytes()
    assert json.loads(accepted)["splits"]["train"]["rows"] == 3000

    corrupt_multi30k(raw, "train", TRANSLATION[3])  # lower-cased
    ingest_task(task, params, root=root, raw_dir=raw)
    with pytest.raises(ValidationFailed, match="source_upper") as failure:
        validate_and_report(task, params, root=root)
    assert "[train]" in str(failure.value)
    assert profile_path(root, task).read_bytes() == accepted  # the next version is again compared with the last good one

    # A fresh clone without the profile that dvc.lock names: read from the DVC cache where it is there, else no drift
    # checks, said in the report with the command that brings it.
    md5 = hashlib.md5(accepted).hexdigest()
    (root / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  validate@translation:\n    cmd: x\n    outs:\n    - path: data/profile/translation.json\n      md5: {md5}\n")
    profile_path(root, task).rename(tmp_path / "accepted.json")
    reference, note = read_reference(root, task, "translation")
    assert reference is None and f"md5 {md5}" in note and "dvc pull validate@translation" in note
    cached = root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    (tmp_path / "accepted.json").rename(cached)
    reference, note = read_reference(root, task, "translation")
    assert reference == json.loads(accepted) and "DVC cache" in note
    with pytest.raises(ValidationFailed, match="source_upper"):  # so the lower-cased version is still refused
        validate_and_report(task, params, root=root)
    assert not profile_path(root, task).exists()
