"""Great Expectations 1.x suites over the interim splits of a task.

Rates that GX has no expectation for (length ratio, copies, leakage into train) are computed as derived
columns first, so every check is a stock GX expectation whose result names the offending rows by `id`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

from seqgen.data.ingest import example_key
from seqgen.data.profile import DriftConfig, character_shares, shared_words
from seqgen.io import read_jsonl
from seqgen.text import CONTROL_CHARS

SAMPLE_ROWS = 5


@dataclasses.dataclass(frozen=True)
class ValidateConfig:
    rows: dict[str, tuple[int, int]]  # allowed [min, max] row count per split
    max_tokens: int  # longest sentence / turn in whitespace tokens
    max_duplicate_rate: float  # within a split, fraction of rows whose example occurs more than once
    max_leak_rate: float  # fraction of an evaluation split also present in train
    max_control_char_rate: float  # fraction of rows holding control characters or U+FFFD
    length_ratio: tuple[float, float] | None = None  # translation: target/source token-ratio bounds
    length_ratio_mostly: float = 1.0  # translation: fraction of rows that must be within the bounds
    max_copy_rate: float = 0.0  # translation: fraction of rows with source == target
    max_markup_rate: float = 0.0  # fraction of rows holding HTML/XML tags or entities (scraping debris)
    max_swapped_rate: float = 0.0  # translation: fraction of pairs that read as German -> English
    language: str | None = None  # dialogue: the language of the turns, for the language-identity drift check
    drift: DriftConfig | None = None  # tolerances against the last accepted data version (None: no drift checks)


# Scraping debris: a tag (<b>, </p>, <br/>) or an HTML entity (&amp; &#39;). Plain "<" or "&" pass.
MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|&(?:[A-Za-z]+|#[0-9]+);")
# Frequent function words of each side of Multi30k: a pair whose source reads German and whose target
# reads English has its languages swapped (the files were mixed up).
ENGLISH_MARKERS = frozenset("a an the is are of with and on at his her two man woman men people".split())
GERMAN_MARKERS = frozenset("ein eine einem einen einer der die das den dem ist sind mit und auf im zwei mann frau männer menschen".split())


MARKERS = {"en": ENGLISH_MARKERS, "de": GERMAN_MARKERS}  # the languages the swapped-files check knows


def language_lean(text: str, first: str = "en", second: str = "de") -> int:
    """> 0: more function words of language `first` than of `second`; < 0: the other way round."""
    words = [w.strip(".,!?;:\"'()").lower() for w in text.split()]
    return sum(w in MARKERS[first] for w in words) - sum(w in MARKERS[second] for w in words)


def reads_as(text: str, language: str) -> bool:
    """More function words of `language` than of any other language the markers know."""
    words = [w.strip(".,!?;:\"'()").lower() for w in text.split()]
    own = sum(w in MARKERS[language] for w in words)
    return own > max(sum(w in markers for w in words) for lang, markers in MARKERS.items() if lang != language)


def identity_languages(kind: str, languages: tuple[str, str] | None, cfg_language: str | None) -> tuple[str, str] | None:
    """The languages each side should read as for the language-identity check, or None where the markers do not know them."""
    sides = languages if kind == "translation" else (cfg_language, cfg_language)
    if sides is None or not all(lang in MARKERS for lang in sides):
        return None
    return sides


def swap_check_languages(kind: str, languages: tuple[str, str] | None) -> tuple[str, str] | None:
    """The (source, target) languages of the swapped-files check, or None where it cannot tell them apart."""
    if kind != "translation" or languages is None or not all(lang in MARKERS for lang in languages):
        return None
    return languages


def build_frame(kind: str, split: str, examples: list[dict], train_keys: set[str] | None, languages: tuple[str, str] | None = ("en", "de"),
                identity: tuple[str, str] | None = None):
    """Examples plus the derived columns the suite checks. `languages`: the (source, target) pair the swapped-files
    check reads the sides as (None: no such check); `identity`: the languages each side should read as (None: no
    language-identity column)."""
    languages = swap_check_languages(kind, languages)
    import pandas as pd

    rows = []
    for e in examples:
        target = e.get("target")
        if kind == "dialogue":
            context = e.get("context") or []
            source = " ||| ".join(map(str, context))
            source_tokens = max((len(str(t).split()) for t in context), default=0)
            shortest_turn = min((len(str(t)) for t in context), default=0)
        else:
            source = e.get("source")
            source_tokens = len(source.split()) if isinstance(source, str) else 0
            shortest_turn = None
        target_tokens = len(target.split()) if isinstance(target, str) else 0
        key = example_key(e) if isinstance(target, str) and isinstance(source, str) else None
        measured = {
            "context_turns": len(e.get("context") or []) if kind == "dialogue" else None,
            "log_length_ratio": math.log(target_tokens / source_tokens) if source_tokens and target_tokens else math.nan,
            # translation: the source; dialogue: the turn the response answers
            "shared_words": shared_words(source if kind == "translation" else str((e.get("context") or [""])[-1]), target)
            if isinstance(source, str) and isinstance(target, str) else 0.0,
        }
        for side, text in (("source", source), ("target", target)):
            shares = character_shares(text) if isinstance(text, str) else {}
            measured.update({f"{side}_{name}": value for name, value in shares.items()})
            if identity is not None:
                lang = identity[0] if side == "source" else identity[1]
                measured[f"{side}_reads_as_language"] = float(isinstance(text, str) and reads_as(text, lang))
        rows.append(
            {
                "id": e.get("id"),
                "source": source,
                "target": target,
                "source_tokens": source_tokens,
                "target_tokens": target_tokens,
                "length_ratio": target_tokens / source_tokens if source_tokens else float("inf"),
                "is_copy": source == target,
                "shortest_context_turn_chars": shortest_turn,
                "example": key,
                "found_in_train": bool(train_keys is not None and key in train_keys),
                "looks_swapped": languages is not None and isinstance(source, str) and isinstance(target, str)
                and language_lean(source, *languages) < 0 < language_lean(target, *languages),
                **measured,
            }
        )
    return pd.DataFrame(rows)


def expectations(kind: str, split: str, cfg: ValidateConfig) -> list:
    import great_expectations.expectations as gxe

    lo, hi = cfg.rows[split]
    suite = [gxe.ExpectTableRowCountToBeBetween(min_value=lo, max_value=hi)]
    for column in ("source", "target"):
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column=column),
            gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=1),
            gxe.ExpectColumnValuesToNotMatchRegex(column=column, regex=CONTROL_CHARS.pattern, mostly=1.0 - cfg.max_control_char_rate),
            gxe.ExpectColumnValuesToNotMatchRegex(column=column, regex=MARKUP.pattern, mostly=1.0 - cfg.max_markup_rate),
        ]
    suite += [
        gxe.ExpectColumnValuesToBeBetween(column="source_tokens", min_value=1, max_value=cfg.max_tokens),
        gxe.ExpectColumnValuesToBeBetween(column="target_tokens", min_value=1, max_value=cfg.max_tokens),
        gxe.ExpectColumnValuesToBeUnique(column="example", mostly=1.0 - cfg.max_duplicate_rate),
    ]
    if kind == "dialogue":
        suite.append(gxe.ExpectColumnValuesToBeBetween(column="shortest_context_turn_chars", min_value=1))
    else:
        if cfg.length_ratio is not None:
            suite.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column="length_ratio",
                    min_value=cfg.length_ratio[0],
                    max_value=cfg.length_ratio[1],
                    mostly=cfg.length_ratio_mostly,
                )
            )
        suite.append(gxe.ExpectColumnValuesToBeInSet(column="is_copy", value_set=[False], mostly=1.0 - cfg.max_copy_rate))
        suite.append(gxe.ExpectColumnValuesToBeInSet(column="looks_swapped", value_set=[False], mostly=1.0 - cfg.max_swapped_rate))
    if split != "train":
        suite.append(gxe.ExpectColumnValuesToBeInSet(column="found_in_train", value_set=[False], mostly=1.0 - cfg.max_leak_rate))
    return suite


def _quiet_gx_context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _summarise(result, frame) -> dict[str, Any]:
    """One expectation's outcome with the observed value and a few offending rows."""
    config = result.expectation_config
    info = result.result or {}
    entry: dict[str, Any] = {
        "expectation": config.type,
        "column": config.kwargs.get("column"),
        "kwargs": {k: v for k, v in config.kwargs.items() if k not in ("column", "batch_id")},
        "success": bool(result.success),
    }
    if config.meta and "drift" in config.meta:  # a drift check: its tolerance's name and the reference's value
        entry["drift"], entry["reference"] = config.meta["drift"], config.meta["reference"]
    if result.exception_info and result.exception_info.get("raised_exception"):
        entry["error"] = result.exception_info.get("exception_message")
    if "observed_value" in info:
        entry["observed"] = _plain(info["observed_value"])
    if "unexpected_count" in info:
        entry["unexpected_count"] = int(info["unexpected_count"])
        entry["unexpected_percent"] = round(float(info.get("unexpected_percent") or 0.0), 4)
        entry["observed"] = f"{entry['unexpected_count']} unexpected rows ({entry['unexpected_percent']}%)"
    if not result.success:
        ids = [row.get("id") for row in info.get("partial_unexpected_index_list") or []][:SAMPLE_ROWS]
        sample = frame[frame["id"].isin(ids)].head(SAMPLE_ROWS)
        entry["sample_rows"] = [
            {"id": r["id"], "source": _clip(r["source"]), "target": _clip(r["target"])} for _, r in sample.iterrows()
        ]
    return entry


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _clip(text: Any, width: int = 160) -> Any:
    if isinstance(text, str) and len(text) > width:
        return text[:width] + "..."
    return text


def validate_task(task: str, cfg: ValidateConfig, interim_dir: Path, docs_dir: Path | None, *, kind: str,
                  languages: tuple[str, str] | None = None, reference: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run the suite for every split of `task` (a task of `kind`; translation: its (source, target) `languages`),
    with the drift checks against `reference` (the profile of the last accepted data version) where there is one.

    Returns the report (success flag, per-split results) and, when every split passed, this version's profile (the
    reference of the next one)."""
    import great_expectations as gx

    from seqgen.data.profile import add_oov_columns, build_profile, drift_expectations

    files = {p.stem: p for p in sorted(interim_dir.glob("*.jsonl"))}
    splits = {split: read_jsonl(path) for split, path in files.items()}
    missing = sorted(set(cfg.rows) - set(splits))
    unexpected = sorted(set(splits) - set(cfg.rows))
    report: dict[str, Any] = {"task": task, "interim_dir": str(interim_dir), "splits": {}}
    notes = []
    if kind == "translation" and swap_check_languages(kind, languages) is None:
        notes.append(f"no swapped-files check for {languages}: it knows function words of {', '.join(MARKERS)} only")
    identity = identity_languages(kind, languages, cfg.language)
    if identity is None:
        notes.append(f"no language-identity check for {languages or cfg.language}: it knows function words of {', '.join(MARKERS)} only")
    if cfg.drift is None:
        report["reference"] = None
        notes.append("no drift checks: tasks.<task>.validate.drift is not set")
    elif reference is None:
        report["reference"] = None
        notes.append("first data version: there is no accepted version to compare with, so it is checked against the fixed "
                     "thresholds alone; if it passes, its profile becomes the reference of the next version")
    else:
        report["reference"] = {"data": reference["data"], "splits": sorted(reference["splits"])}
        new_splits = sorted(set(splits) - set(reference["splits"]))
        if new_splits:
            notes.append(f"splits {new_splits} have no reference yet: checked against the fixed thresholds alone")
    if notes:
        report["note"] = "; ".join(notes)
    if missing or unexpected:
        report["success"] = False
        report["error"] = f"{interim_dir}: missing splits {missing or '-'}; splits with no row bounds in params {unexpected or '-'}"
        return report, None

    context = _quiet_gx_context()
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="seqgen",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = context.data_sources.add_pandas(name=task)
    train_keys = {example_key(e) for e in splits["train"] if isinstance(e.get("target"), str)}
    result_format = {"result_format": "SUMMARY", "unexpected_index_column_names": ["id"], "partial_unexpected_count": 20}
    frames = {}
    for split, examples in splits.items():
        frame = frames[split] = build_frame(kind, split, examples, None if split == "train" else train_keys, languages, identity)
        suite = expectations(kind, split, cfg)
        if reference is not None and cfg.drift is not None:
            frame = add_oov_columns(frame, reference["vocabulary"])
            suite += drift_expectations(split, reference, cfg.drift, identity is not None)
        batch = source.add_dataframe_asset(name=f"{task}-{split}").add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{task}-{split}", expectations=suite))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"{task}-{split}", data=batch, suite=suite))
        actions = [gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["seqgen"])] if docs_dir else []
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(name=f"{task}-{split}", validation_definitions=[definition], actions=actions, result_format=result_format)
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": frame})
        (validation,) = outcome.run_results.values()
        report["splits"][split] = {
            "rows": len(frame),
            "success": bool(validation.success),
            "expectations": [_summarise(r, frame) for r in validation.results],
        }
    report["success"] = all(s["success"] for s in report["splits"].values())
    profile = build_profile(task, kind, frames, files, identity is not None) if report["success"] else None
    return report, profile


def failure_message(report: dict[str, Any]) -> str:
    """Human-readable list of failed expectations: split, expectation, observed value, sample rows."""
    lines = [f"data validation failed for task {report['task']!r}:"]
    if "error" in report:
        lines.append(f"  {report['error']}")
    for split, result in report.get("splits", {}).items():
        for e in result["expectations"]:
            if e["success"]:
                continue
            column = f" on column {e['column']!r}" if e.get("column") else ""
            where = Path(report["interim_dir"]) / f"{split}.jsonl"
            drift = f" (drift from the last accepted version, whose value was {e['reference']})" if "reference" in e else ""
            lines.append(f"  [{split}] {where}: {e['expectation']}{column} {e['kwargs']}: observed {e.get('observed')}{drift}")
            if e.get("error"):
                lines.append(f"      error: {e['error']}")
            for row in e.get("sample_rows", []):
                lines.append(f"      {row['id']}: source={row['source']!r} target={row['target']!r}")
    return "\n".join(lines)


def validate_and_report(task: str, params: dict, root: Path = Path("."), params_path: Path | None = None) -> dict[str, Any]:
    """The validate stage's work: the suite over data/interim/<task>, reports/validation/<task>.json and its Data
    Docs; a ValidationFailed naming each failed expectation when any fails."""
    from seqgen.config import DEFAULT_PARAMS, from_mapping, task_section, task_spec
    from seqgen.console import log
    from seqgen.data.profile import profile_path, read_reference
    from seqgen.errors import ValidationFailed
    from seqgen.io import write_json_atomic

    cfg = from_mapping(ValidateConfig, task_section(params, task, "validate"), f"tasks.{task}.validate")
    report_path = root / "reports/validation" / f"{task}.json"
    spec = task_spec(params, task, params_path or DEFAULT_PARAMS)
    data = task_section(params, task, "data", params_path or DEFAULT_PARAMS)
    languages = (data.get("source_lang"), data.get("target_lang")) if spec.kind == "translation" else None
    reference, reference_note = read_reference(root, task, spec.kind) if cfg.drift is not None else (None, None)
    if reference_note:
        log("validate", f"{task}: {reference_note}")
    report, profile = validate_task(task, cfg, root / "data/interim" / task, root / "reports/validation" / f"{task}_docs",
                                    kind=spec.kind, languages=languages, reference=reference)
    if reference_note:
        report["note"] = "; ".join(filter(None, [reference_note, report.get("note")]))
    write_json_atomic(report_path, report)
    if not report["success"]:
        # The accepted profile stays as it was: the next version is again compared with the last one that passed.
        raise ValidationFailed(failure_message(report) + f"\n(full report: {report_path})")
    if profile is not None and cfg.drift is not None:
        write_json_atomic(profile_path(root, task), profile)
    checks = sum(len(s["expectations"]) for s in report["splits"].values())
    against = "the fixed thresholds alone (first data version)" if reference is None else "the fixed thresholds and the last accepted version"
    log("validate", f"{task}: {checks} expectations passed on splits {', '.join(report['splits'])}, against {against}")
    return report
