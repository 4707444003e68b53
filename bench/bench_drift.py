"""Benchmark: the drift checks on the full real corpora (issue 28).

- False alarms: the current version checked against its own profile, and a version made of the second half of
  every split checked against the profile of the first half (new sentences of the same corpus: a stand-in for an
  honest new data version). Both must pass.
- Whole-corpus corruptions (src/seqgen/corruptions.py), each applied to every split of the full corpus: each must
  be stopped by the drift expectations it names, with every row still passing the row-wise checks.

Run: . scripts/env.sh && python bench/bench_drift.py [--task translation|dialogue]
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path

from common import PROJECT_ROOT, header

from seqgen.config import from_mapping, load_params, task_section, task_spec
from seqgen.corruptions import TRANSLATION, corrupt_dailydialog, corrupt_multi30k, dialogue_corruptions
from seqgen.data.ingest import ingest_task
from seqgen.data.validation import ValidateConfig, validate_task
from seqgen.sandbox import DAILYDIALOG_ZIP, MULTI30K_GZ, read_gz_lines, read_zip_lines, write_gz_lines, write_zip_lines, zip_member

RAW = {"translation": MULTI30K_GZ, "dialogue": DAILYDIALOG_ZIP}
MULTI30K_STEMS = ("train", "val", "test_2016_flickr", "test_2017_flickr")
DAILYDIALOG_SPLITS = ("train", "validation", "test")


def check(task: str, params: dict, raw: Path, root: Path, reference: dict | None, any_rows: bool = False):
    """Ingest `raw` into `root` and validate it against `reference`: (report, profile, seconds)."""
    ingest_task(task, params, root=root, raw_dir=raw)
    section = copy.deepcopy(task_section(params, task, "validate"))
    if any_rows:  # a half corpus: the fixed row bounds are not what is measured here
        section["rows"] = {split: [1, 10**7] for split in section["rows"]}
    cfg = from_mapping(ValidateConfig, section, f"tasks.{task}.validate")
    data = task_section(params, task, "data")
    languages = (data["source_lang"], data["target_lang"]) if task_spec(params, task).kind == "translation" else None
    started = time.perf_counter()
    report, profile = validate_task(task, cfg, root / "data/interim" / task, None, kind=task_spec(params, task).kind,
                                    languages=languages, reference=reference)
    return report, profile, time.perf_counter() - started


def failures(report: dict) -> tuple[set[str], set[str]]:
    """(columns of failed drift expectations, names of failed row-wise expectations) over every split."""
    drift, rowwise = set(), set()
    for result in report["splits"].values():
        for e in result["expectations"]:
            if not e["success"]:
                (drift if "drift" in e else rowwise).add(e["column"] or e["expectation"])
    return drift, rowwise


def half(raw: Path, dest: Path, task: str, second: bool) -> Path:
    """One half of every split of the official files (lines of Multi30k, dialogues of DailyDialog)."""
    dest.mkdir(parents=True)
    pick = (lambda lines: lines[len(lines) // 2:]) if second else (lambda lines: lines[: len(lines) // 2])
    if task == "translation":
        for gz in raw.glob("*.gz"):
            write_gz_lines(dest / gz.name, pick(read_gz_lines(gz)))
    else:
        for split in DAILYDIALOG_SPLITS:
            write_zip_lines(dest / f"{split}.zip", zip_member(split), pick(read_zip_lines(raw / f"{split}.zip", zip_member(split))))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["translation", "dialogue"], action="append", help="default: both")
    args = parser.parse_args()
    header("python bench/bench_drift.py" + "".join(f" --task {t}" for t in args.task or []))
    params = load_params(PROJECT_ROOT / "params.yaml")
    german = [line.decode() for line in read_gz_lines(MULTI30K_GZ / "train.de.gz")]
    for task in args.task or ["translation", "dialogue"]:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            print(f"\n== {task}")
            _, reference, seconds = check(task, params, RAW[task], tmp / "current", None)
            report, _, seconds = check(task, params, RAW[task], tmp / "current", reference)
            drift, rowwise = failures(report)
            print(f"false alarms, current version against its own profile: {len(drift | rowwise)} {sorted(drift | rowwise)} "
                  f"(validation {seconds:.1f} s)")
            _, first, _ = check(task, params, half(RAW[task], tmp / "raw-a", task, False), tmp / "a", None, any_rows=True)
            report, _, _ = check(task, params, half(RAW[task], tmp / "raw-b", task, True), tmp / "b", first, any_rows=True)
            drift, rowwise = failures(report)
            print(f"false alarms, second half against the first half's profile: {len(drift | rowwise)} {sorted(drift | rowwise)}")
            catalogue = TRANSLATION if task == "translation" else dialogue_corruptions(german)
            print(f"{'corruption':<36} {'stopped by (drift columns, any split)':<60} row-wise failures")
            stopped = 0
            for corruption in catalogue:
                raw = tmp / "raw-corrupt"
                shutil.rmtree(raw, ignore_errors=True)
                shutil.copytree(RAW[task], raw)
                for name in (MULTI30K_STEMS if task == "translation" else DAILYDIALOG_SPLITS):
                    (corrupt_multi30k if task == "translation" else corrupt_dailydialog)(raw, name, corruption)
                report, _, _ = check(task, params, raw, tmp / "corrupt", reference)
                drift, rowwise = failures(report)
                ok = set(corruption.expected) <= drift
                stopped += ok
                print(f"{corruption.name:<36} {', '.join(sorted(drift)) or '-':<60} {', '.join(sorted(rowwise)) or '-'}"
                      f"{'' if ok else '   MISSED ' + str(sorted(set(corruption.expected) - drift))}")
            print(f"{task}: {stopped} of {len(catalogue)} whole-corpus corruptions stopped by the expectations they name")


if __name__ == "__main__":
    main()
