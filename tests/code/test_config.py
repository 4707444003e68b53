import dataclasses

import pytest

from helpers import PROJECT_ROOT
from seqgen.config import from_mapping, load_params, section
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig
from seqgen.data.tokenization import TokenizeConfig
from seqgen.data.validation import ValidateConfig
from seqgen.errors import ConfigError


def test_every_section_of_params_yaml_loads():
    params = load_params(PROJECT_ROOT / "params.yaml")
    from_mapping(TranslationDataConfig, section(params, "data.translation"), "data.translation")
    from_mapping(DialogueDataConfig, section(params, "data.dialogue"), "data.dialogue")
    for task in ("translation", "dialogue"):
        cfg = from_mapping(ValidateConfig, section(params, f"validate.{task}"), f"validate.{task}")
        assert cfg.rows["train"][0] < cfg.rows["train"][1]
        from_mapping(TokenizeConfig, section(params, f"tokenize.{task}"), f"tokenize.{task}")


def test_every_knob_in_params_yaml_has_a_comment():
    """Each key is explained on (at least) its first occurrence; per-task repeats need not say it again."""
    commented, seen = set(), {}
    for number, line in enumerate((PROJECT_ROOT / "params.yaml").read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" not in stripped or stripped.split("#")[0].strip().endswith(":"):
            continue  # blank, comment, or a section header
        key = stripped.split(":")[0].lstrip("- ")
        seen.setdefault(key, number)
        if "#" in line:
            commented.add(key)
    undocumented = {key: number for key, number in seen.items() if key not in commented and "." not in key and key != "<<"}
    # Row bounds (train/valid/test/test2017) are documented by their parent's comment.
    undocumented = {k: n for k, n in undocumented.items() if k not in {"train", "valid", "test", "test2017"}}
    assert not undocumented, f"keys without a comment (first line): {undocumented}"


def test_unknown_key_is_named_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"data.dialogue: unknown key\(s\) max_contxt_turns; allowed: max_context_turns"):
        from_mapping(DialogueDataConfig, {"max_contxt_turns": 3, "drop_leaked_from_train": True}, "data.dialogue")


def test_missing_and_ill_typed_keys_are_named():
    with pytest.raises(ConfigError, match=r"data.dialogue.drop_leaked_from_train: missing"):
        from_mapping(DialogueDataConfig, {"max_context_turns": 3}, "data.dialogue")
    with pytest.raises(ConfigError, match=r"data.dialogue.max_context_turns: expected int, got 'three'"):
        from_mapping(DialogueDataConfig, {"max_context_turns": "three", "drop_leaked_from_train": True}, "data.dialogue")
    with pytest.raises(ConfigError, match=r"must be >= 1"):
        from_mapping(DialogueDataConfig, {"max_context_turns": 0, "drop_leaked_from_train": True}, "data.dialogue")


def test_nested_and_tuple_values_are_checked():
    good = {"rows": {"train": [1, 2]}, "max_tokens": 5, "max_duplicate_rate": 0, "max_leak_rate": 0, "max_control_char_rate": 0}
    cfg = from_mapping(ValidateConfig, good, "validate.x")
    assert cfg.rows == {"train": (1, 2)} and isinstance(cfg.max_duplicate_rate, float)
    with pytest.raises(ConfigError, match=r"validate.x.rows.train: expected 2 items"):
        from_mapping(ValidateConfig, dict(good, rows={"train": [1]}), "validate.x")
    assert dataclasses.is_dataclass(cfg)


def test_missing_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing key 'tokenize.dialogue' \(no 'dialogue' under tokenize\)"):
        section({"tokenize": {"translation": {}}}, "tokenize.dialogue")
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "params.yaml")
