"""The profile of an accepted data version, and the drift of a new version against it.

Row-wise checks cannot see a corpus that is wrong as a whole while each row is clean (pairs shuffled, a side
lower-cased or cut short, mojibake, another language, another tokenisation). Those show as shifts of
distributions, so validation measures a few per row (the columns below), and when a data version passes, the
means and spreads of those columns per split, with the training split's vocabulary, become its profile:
`data/profile/<task>.json`, a DVC output kept beside the data version it describes (pushed to the remote with it).
The next version is checked against that profile with one Great Expectations expectation per statistic, its
tolerance in `tasks.<task>.validate.drift`.

Whether pairs still belong together is measured with two cheap signals that need no model (so a first version and
a user's own corpus are checked the same way, and validation depends on nothing downstream of it):
- translation: the spread (standard deviation) of log(target/source length). Lengths of a sentence and its
  translation are strongly correlated (Gale and Church 1993 align sentences on that alone: r = 0.87 on Multi30k's
  train), so shuffled or shifted pairs widen the spread from 0.17 to 0.46;
- both kinds: the share of the target's words that also occur in its source (names, numbers, shared words; for a
  dialogue, the words a response takes up from the turn it answers): 0.124 of a DailyDialog response, 0.073 when
  responses are shuffled; 0.051 against 0.016 on Multi30k.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

PROFILE_DIR = Path("data/profile")
VOCABULARY_SIZE = 2000  # words per side kept in a profile: the reference vocabulary of the out-of-vocabulary share
CHARACTER_CLASSES = ("upper", "digit", "punct", "non_ascii")


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """How far a new data version may move from the last accepted one (each a tolerance of one statistic)."""

    length: float  # relative change of the mean tokens per side (and context turns per example)
    alignment_overlap: float  # relative fall of the share of target words found in the source
    characters: float  # factor by which the share of characters of a class (upper case, digit, punctuation, non-ASCII) may grow or shrink
    characters_floor: float  # and the change of a share that always passes (a class the reference barely uses)
    language: float  # fall of the share of rows that read as their language
    vocabulary: float  # rise of the share of tokens outside the reference's training vocabulary
    length_ratio: float | None = None  # translation: change of the mean log(target/source tokens) (None: unchecked)
    alignment_spread: float | None = None  # translation: relative rise of the spread of log(target/source tokens)


def profile_path(root: Path, task: str) -> Path:
    return root / PROFILE_DIR / f"{task}.json"


def _words(text: str) -> set[str]:
    return {w.strip(".,!?;:\"'()").lower() for w in text.split()} - {""}


def shared_words(source: str, target: str) -> float:
    """Share of the target's distinct words that also occur in the source."""
    target_words = _words(target)
    return len(target_words & _words(source)) / len(target_words) if target_words else 0.0


def character_shares(text: str) -> dict[str, float]:
    """Share of the non-space characters of `text` in each class."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return {name: 0.0 for name in CHARACTER_CLASSES}
    counts = {
        "upper": sum(c.isupper() for c in chars),
        "digit": sum(c.isdigit() for c in chars),
        "punct": sum(unicodedata.category(c)[0] in "PS" for c in chars),
        "non_ascii": sum(ord(c) > 127 for c in chars),
    }
    return {name: counts[name] / len(chars) for name in CHARACTER_CLASSES}


def oov_share(tokens: list[str], vocabulary: frozenset[str]) -> float:
    return sum(t not in vocabulary for t in tokens) / len(tokens) if tokens else 0.0


def side_tokens(text: Any) -> list[str]:
    """Whitespace tokens of one side (a dialogue context's turn separator is not a token)."""
    return [t for t in text.split() if t != "|||"] if isinstance(text, str) else []


def vocabulary(frame, side: str, size: int = VOCABULARY_SIZE) -> list[str]:
    """The `size` most frequent tokens of one side of a split (ties broken alphabetically, so the list is stable)."""
    counts = Counter(t for text in frame[side] for t in side_tokens(text))
    return [t for t, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]]


def add_oov_columns(frame, vocabularies: dict[str, list[str]]):
    """`<side>_oov` per row against the given per-side vocabularies (a copy of the frame)."""
    frame = frame.copy()
    for side, words in vocabularies.items():
        known = frozenset(words)
        frame[f"{side}_oov"] = [oov_share(side_tokens(text), known) for text in frame[side]]
    return frame


def drift_columns(kind: str, languages_known: bool) -> dict[str, str]:
    """The measured column -> the statistic compared with the reference ("mean" or "stdev") and its tolerance's name."""
    columns = {"source_tokens": "length", "target_tokens": "length", "shared_words": "alignment_overlap"}
    if kind == "dialogue":
        columns["context_turns"] = "length"
    else:
        columns["log_length_ratio"] = "length_ratio"
    for side in ("source", "target"):
        columns.update({f"{side}_{name}": "characters" for name in CHARACTER_CLASSES})
        columns[f"{side}_oov"] = "vocabulary"
        if languages_known:
            columns[f"{side}_reads_as_language"] = "language"
    return columns


def _stat(series, how: str) -> float:
    value = float(series.mean() if how == "mean" else series.std())
    return round(value, 6) if math.isfinite(value) else 0.0


def build_profile(task: str, kind: str, frames: dict[str, Any], files: dict[str, Path], languages_known: bool) -> dict[str, Any]:
    """The profile of an accepted version: per split the mean (and, for log_length_ratio, the stdev) of every measured
    column, against the training split's own vocabulary; the md5 of each split's file names the data version."""
    vocabularies = {side: vocabulary(frames["train"], side) for side in ("source", "target")}
    columns = drift_columns(kind, languages_known)
    splits = {}
    for split, frame in frames.items():
        frame = add_oov_columns(frame, vocabularies) if split != "train" else _held_out_oov(frame)
        stats = {column: {"mean": _stat(frame[column], "mean")} for column in columns}
        if "log_length_ratio" in stats:
            stats["log_length_ratio"]["stdev"] = _stat(frame["log_length_ratio"], "stdev")
        splits[split] = {"rows": len(frame), "columns": stats}
    return {
        "task": task,
        "kind": kind,
        "data": {split: hashlib.md5(path.read_bytes()).hexdigest() for split, path in sorted(files.items())},
        "vocabulary": vocabularies,
        "splits": splits,
    }


def _held_out_oov(train):
    """The training split's out-of-vocabulary shares, each row against the vocabulary of the other half of the split.

    Against its own vocabulary a split is in-sample (on 2,000 Multi30k pairs, 6.6% of the source tokens are out of
    it, while the next 2,000 pairs have 13%): the next version's training split, measured against this one's
    vocabulary, would always look drifted. Half the rows give a slightly smaller vocabulary, so the baseline errs
    on the lenient side."""
    middle = len(train) // 2  # contiguous halves: consecutive dialogue examples share their turns
    halves = [train.iloc[:middle], train.iloc[middle:]]
    scored = [add_oov_columns(halves[i], {side: vocabulary(halves[1 - i], side) for side in ("source", "target")}) for i in (0, 1)]
    import pandas as pd

    return pd.concat(scored).loc[train.index]


def drift_expectations(split: str, reference: dict[str, Any], cfg: DriftConfig, languages_known: bool) -> list:
    """One GX expectation per measured statistic of `split`, its bounds the reference's value +- the tolerance."""
    import great_expectations.expectations as gxe

    ref = reference["splits"].get(split)
    if ref is None:
        return []
    suite = []
    for column, tolerance_name in drift_columns(reference["kind"], languages_known).items():
        if column not in ref["columns"]:
            continue
        mean, tolerance = ref["columns"][column]["mean"], getattr(cfg, tolerance_name)
        if tolerance is None:
            continue
        meta = {"drift": tolerance_name, "reference": mean}
        if tolerance_name == "length":
            bounds = dict(min_value=mean * (1 - tolerance), max_value=mean * (1 + tolerance))
        elif tolerance_name == "alignment_overlap":
            bounds = dict(min_value=mean * (1 - tolerance))
        elif tolerance_name == "language":
            bounds = dict(min_value=mean - tolerance)
        elif tolerance_name == "vocabulary":
            bounds = dict(max_value=mean + tolerance)
        elif tolerance_name == "characters":
            bounds = dict(min_value=max(0.0, mean / tolerance - cfg.characters_floor), max_value=mean * tolerance + cfg.characters_floor)
        else:  # length_ratio: a shift either way
            bounds = dict(min_value=mean - tolerance, max_value=mean + tolerance)
        suite.append(gxe.ExpectColumnMeanToBeBetween(column=column, **_rounded(bounds), meta=meta))
    if cfg.alignment_spread is not None and "stdev" in ref["columns"].get("log_length_ratio", {}):
        spread = ref["columns"]["log_length_ratio"]["stdev"]
        suite.append(gxe.ExpectColumnStdevToBeBetween(
            column="log_length_ratio", max_value=round(spread * (1 + cfg.alignment_spread), 6),
            meta={"drift": "alignment_spread", "reference": spread}))
    return suite


def _rounded(bounds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in bounds.items()}


def read_reference(root: Path, task: str, kind: str) -> tuple[dict[str, Any] | None, str | None]:
    """The profile of the last accepted data version of `task` (None when there is none yet: a first version), and a
    note when dvc.lock names a profile the workspace lacks.

    Such a profile (a fresh clone that has not pulled) is read from the DVC cache when it is there; otherwise the
    version is checked against the fixed thresholds alone and the report and log say which profile was missing and
    how to bring it (`dvc pull`), since a clone without the team's remote must still be able to run the pipeline.
    """
    from seqgen.errors import ValidationFailed

    path, note = profile_path(root, task), None
    if not path.is_file():
        recorded = _locked_profile_md5(root, task)
        if recorded is None:
            return None, None
        cached = root / ".dvc" / "cache" / "files" / "md5" / recorded[:2] / recorded[2:]
        if not cached.is_file():
            return None, (f"dvc.lock names the profile of the last accepted data version ({path.relative_to(root)}, md5 "
                          f"{recorded}), but it is neither in the workspace nor in the DVC cache: no drift checks this run; "
                          f"`dvc pull validate@{task}` brings it")
        path, note = cached, f"the reference profile was read from the DVC cache (md5 {recorded}, named in dvc.lock)"
    try:
        profile = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValidationFailed(f"{path}: the reference profile is not readable JSON ({err})") from err
    if profile.get("kind") != kind or not isinstance(profile.get("splits"), dict):
        raise ValidationFailed(f"{path}: the reference profile is of a {profile.get('kind')!r} task, not of this {kind!r} task")
    return profile, note


def _locked_profile_md5(root: Path, task: str) -> str | None:
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    stage = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).get(f"validate@{task}", {})
    wanted = (PROFILE_DIR / f"{task}.json").as_posix()
    return next((out.get("md5") for out in stage.get("outs", []) if out.get("path") == wanted), None)
