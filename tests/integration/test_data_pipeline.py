"""`dvc repro` of the data stages in a temporary copy of the repo, on slices of the real corpora.

The copy imports its raw data with `dvc import-url` from slice folders beside it, exactly like the real
project imports ../shared/corpora. Each bad-input case corrupts a source file, runs `dvc update` (a new
data version) and `dvc repro`, and checks that the pipeline stops with a message naming the file and the
problem, and that nothing downstream (data/processed, the lock entries of later stages) changed.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import read_gz_lines, read_zip_lines, sh, write_gz_lines, write_zip_lines
from seqgen.corruptions import TRANSLATION, corrupt_dailydialog, corrupt_multi30k, dialogue_corruptions

pytestmark = pytest.mark.integration
# The data stages only (and what they depend on): training on slices is the model tests' business.
DATA = ("tokenize@translation", "tokenize@dialogue")


def digest_tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


def lock_entries(repo: Path, prefix: str) -> dict:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {name: entry for name, entry in lock.items() if name.startswith(prefix)}


@pytest.fixture(scope="module")
def pipeline(built_repo) -> Path:
    """A workspace <root>/{repo, corpora} whose data stages have run once, successfully (the session's built_repo,
    which tests copy before they change anything)."""
    assert "Running stage 'tokenize@dialogue'" in (built_repo / "build.log").read_text()
    return built_repo


def test_data_stages_reproduce_on_real_slices(pipeline):
    repo = pipeline / "repo"
    stages = sh("dvc", "stage", "list", cwd=repo).stdout
    for stage in ("ingest", "validate", "tokenize"):
        for task in ("translation", "dialogue"):
            assert f"{stage}@{task}" in stages
    for task, splits in {"translation": {"train", "valid", "test", "test2017"}, "dialogue": {"train", "valid", "test"}}.items():
        assert {p.stem for p in (repo / "data" / "interim" / task).glob("*.jsonl")} == splits
        assert {p.stem for p in (repo / "data" / "processed" / task).glob("*.npz")} == splits
        assert (repo / "data" / "processed" / task / "spm.model").is_file()
        assert (repo / "reports" / "validation" / f"{task}_docs" / "index.html").is_file()
    # Nothing is stale after a run, and a second repro does nothing.
    assert "up to date" in sh("dvc", "status", "--with-deps", *DATA, cwd=repo).stdout
    assert "Running stage" not in sh("dvc", "repro", *DATA, cwd=repo).stdout


def test_changing_one_tasks_param_reruns_only_that_task(tmp_path, pipeline):
    shutil.copytree(pipeline, tmp_path / "ws", symlinks=True)
    repo = tmp_path / "ws" / "repo"
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tasks"]["dialogue"]["tokenize"]["vocab_size"] = 500
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh("dvc", "repro", *DATA, cwd=repo).stdout
    assert "Running stage 'tokenize@dialogue'" in out
    assert "Running stage 'tokenize@translation'" not in out and "Running stage 'ingest" not in out


def corrupt_gz(path: Path, edit) -> None:
    lines = read_gz_lines(path)
    write_gz_lines(path, edit(lines))


def corrupt_zip(path: Path, member: str, edit) -> None:
    write_zip_lines(path, member, edit(read_zip_lines(path, member)))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-30])


def drop_member(path: Path) -> None:
    write_zip_lines(path, "validation/dialogues_act_validation.txt", [b"1 2 3"])


def set_line(lines, index, value):
    lines = list(lines)
    lines[index] = value
    return lines


DRIFT = {c.name: c for c in TRANSLATION}
DIALOGUE_DRIFT = {c.name: c for c in dialogue_corruptions([])}

CASES = {
    "truncated gzip": ("multi30k", lambda c: truncate(c / "multi30k" / "val.de.gz"), ["val.de.gz", "truncated gzip"]),
    "zip missing its split": (
        "dailydialog",
        lambda c: drop_member(c / "dailydialog" / "validation.zip"),
        ["validation.zip", "member 'validation/dialogues_validation.txt' is missing"],
    ),
    "misaligned en/de": (
        "multi30k",
        lambda c: corrupt_gz(c / "multi30k" / "train.de.gz", lambda lines: lines[:-1]),
        ["train.en.gz has 401 lines", "train.de.gz has 400"],
    ),
    "non-UTF-8 bytes": (
        "multi30k",
        lambda c: corrupt_gz(c / "multi30k" / "test_2016_flickr.de.gz", lambda lines: set_line(lines, 9, "Straße".encode("latin-1"))),
        ["test_2016_flickr.de.gz: line 10 is not valid UTF-8"],
    ),
    # Row-level corruptions of the training files, one row each, in one new data version: the suite names every one.
    "empty line, HTML debris, control characters, over-long line": (
        "multi30k",
        lambda c: [
            corrupt_gz(c / "multi30k" / "train.en.gz",
                       lambda lines: set_line(set_line(set_line(lines, 4, b"   "), 8, b"A man <b>rides</b> a bike &amp; waves."), 2, b" ".join([b"word"] * 120))),
            corrupt_gz(c / "multi30k" / "train.de.gz", lambda lines: set_line(lines, 6, "Ein Mann f\u00e4hrt\x07 Rad.".encode())),
        ],
        ["[train] data/interim/translation/train.jsonl: expect_column_value_lengths_to_be_between on column 'source'", "train-5: source=''",
         "[train] data/interim/translation/train.jsonl: expect_column_values_to_not_match_regex on column 'source'", "train-9:",
         "[train] data/interim/translation/train.jsonl: expect_column_values_to_not_match_regex on column 'target'", "train-7:",
         "[train] data/interim/translation/train.jsonl: expect_column_values_to_be_between on column 'source_tokens'", "train-3:"],
    ),
    # Corruptions of the corpus as a whole, in one new data version: a test sentence copied into train, one training
    # pair repeated 100 times, the validation files' languages swapped. The suite names each.
    "test sentence copied into train, massive duplication, swapped languages": (
        "multi30k",
        lambda c: [
            *[corrupt_gz(c / "multi30k" / f"train.{lang}.gz",
                         lambda lines, lang=lang: lines[:1] * 100 + lines[100:] + [read_gz_lines(c / "multi30k" / f"test_2016_flickr.{lang}.gz")[2]])
              for lang in ("en", "de")],
            (c / "multi30k" / "val.en.gz").rename(c / "multi30k" / "tmp.gz"), (c / "multi30k" / "val.de.gz").rename(c / "multi30k" / "val.en.gz"),
            (c / "multi30k" / "tmp.gz").rename(c / "multi30k" / "val.de.gz"),
        ],
        ["[test] data/interim/translation/test.jsonl: expect_column_values_to_be_in_set on column 'found_in_train'", "test-3:",
         "[train] data/interim/translation/train.jsonl: expect_column_values_to_be_unique on column 'example'",
         "[valid] data/interim/translation/valid.jsonl: expect_column_values_to_be_in_set on column 'looks_swapped'"],
    ),
    # Corpora wrong as a whole with every row clean (docs/RELIABILITY.md): one kind per split, in one new data version;
    # each split's drift against the last accepted version's profile (data/profile/<task>.json) names its expectation.
    "whole-corpus corruptions of Multi30k (shifted, lower-cased, folded umlauts, wrong language)": (
        "multi30k",
        lambda c: [corrupt_multi30k(c / "multi30k", stem, DRIFT[name]) for stem, name in (
            ("train", "target file shifted by one line"), ("val", "lower-cased"), ("test_2016_flickr", "umlauts folded to ASCII"),
            ("test_2017_flickr", "target side in the wrong language"))],
        ["[train] data/interim/translation/train.jsonl: expect_column_stdev_to_be_between on column 'log_length_ratio'",
         "[valid] data/interim/translation/valid.jsonl: expect_column_mean_to_be_between on column 'source_upper'",
         "[test] data/interim/translation/test.jsonl: expect_column_mean_to_be_between on column 'target_non_ascii'",
         "[test2017] data/interim/translation/test2017.jsonl: expect_column_mean_to_be_between on column 'target_reads_as_language'",
         "drift from the last accepted version, whose value was"],
    ),
    "whole-corpus corruptions of DailyDialog (responses from another dialogue, lower-cased, turns cut short)": (
        "dailydialog",
        lambda c: [corrupt_dailydialog(c / "dailydialog", split, DIALOGUE_DRIFT[name]) for split, name in (
            ("train", "responses from another dialogue"), ("validation", "lower-cased"), ("test", "turns cut short"))],
        ["[train] data/interim/dialogue/train.jsonl: expect_column_mean_to_be_between on column 'shared_words'",
         "[valid] data/interim/dialogue/valid.jsonl: expect_column_mean_to_be_between on column 'target_upper'",
         "[test] data/interim/dialogue/test.jsonl: expect_column_mean_to_be_between on column 'target_tokens'"],
    ),
    "shrunken corpus": (
        "dailydialog",
        lambda c: corrupt_zip(c / "dailydialog" / "train.zip", "train/dialogues_train.txt", lambda lines: lines[:60]),
        ["[train] data/interim/dialogue/train.jsonl: expect_table_row_count_to_be_between", "observed"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_the_pipeline_before_anything_downstream(tmp_path, pipeline, case):
    corpus, corrupt, expected = CASES[case]
    workspace = tmp_path / "ws"
    shutil.copytree(pipeline, workspace, symlinks=True)
    repo = workspace / "repo"
    processed_before = digest_tree(repo / "data" / "processed")
    accepted_profiles = digest_tree(repo / "data" / "profile")
    assert set(accepted_profiles) >= {"translation.json", "dialogue.json"}
    tokenize_lock_before = lock_entries(repo, "tokenize@")

    corrupt(workspace / "corpora")
    sh("dvc", "update", "-q", f"data/raw/{corpus}.dvc", cwd=repo)
    run = sh("dvc", "repro", *DATA, cwd=repo, check=False)

    assert run.returncode != 0, run.stdout
    for fragment in expected:
        assert fragment in run.stdout, run.stdout
    assert "Running stage 'tokenize@" not in run.stdout
    assert digest_tree(repo / "data" / "processed") == processed_before
    assert lock_entries(repo, "tokenize@") == tokenize_lock_before
    assert digest_tree(repo / "data" / "profile") == accepted_profiles  # the next version is again checked against these
