import dataclasses

import pytest

from helpers import PROJECT_ROOT, task_spec_of
from seqgen.config import from_mapping, load_params, section, task_names, task_section, task_spec
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig, data_config
from seqgen.data.tokenization import TokenizeConfig
from seqgen.data.validation import ValidateConfig
from seqgen.errors import ConfigError


def test_every_section_of_params_yaml_loads():
    params = load_params(PROJECT_ROOT / "params.yaml")
    from_mapping(TranslationDataConfig, task_section(params, "translation", "data"), "tasks.translation.data")
    from_mapping(DialogueDataConfig, task_section(params, "dialogue", "data"), "tasks.dialogue.data")
    for task in ("translation", "dialogue"):
        cfg = from_mapping(ValidateConfig, task_section(params, task, "validate"), f"tasks.{task}.validate")
        assert cfg.rows["train"][0] < cfg.rows["train"][1]
        from_mapping(TokenizeConfig, task_section(params, task, "tokenize"), f"tasks.{task}.tokenize")


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
    with pytest.raises(ConfigError, match=r"tasks.dialogue.data: unknown key\(s\) max_contxt_turns; allowed: max_context_turns"):
        from_mapping(DialogueDataConfig, {"max_contxt_turns": 3, "drop_leaked_from_train": True}, "tasks.dialogue.data")


def test_missing_and_ill_typed_keys_are_named():
    with pytest.raises(ConfigError, match=r"tasks.dialogue.data.drop_leaked_from_train: missing"):
        from_mapping(DialogueDataConfig, {"max_context_turns": 3}, "tasks.dialogue.data")
    with pytest.raises(ConfigError, match=r"tasks.dialogue.data.max_context_turns: expected int, got 'three'"):
        from_mapping(DialogueDataConfig, {"max_context_turns": "three", "drop_leaked_from_train": True}, "tasks.dialogue.data")
    with pytest.raises(ConfigError, match=r"tasks.dialogue.data.max_context_turns: must be >= 1"):
        data_config(task_spec_of("dialogue"), {"max_context_turns": 0, "drop_leaked_from_train": True})


def test_nested_and_tuple_values_are_checked():
    good = {"rows": {"train": [1, 2]}, "max_tokens": 5, "max_duplicate_rate": 0, "max_leak_rate": 0, "max_control_char_rate": 0}
    cfg = from_mapping(ValidateConfig, good, "validate.x")
    assert cfg.rows == {"train": (1, 2)} and isinstance(cfg.max_duplicate_rate, float)
    with pytest.raises(ConfigError, match=r"validate.x.rows.train: expected 2 items"):
        from_mapping(ValidateConfig, dict(good, rows={"train": [1]}), "validate.x")
    assert dataclasses.is_dataclass(cfg)


def test_missing_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing key 'tasks.dialogue.tokenize' \(no 'tokenize' under tasks.dialogue\)"):
        section({"tasks": {"dialogue": {"model": {}}}}, "tasks.dialogue.tokenize")
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "params.yaml")


# ---- a task declared wrong is named at params load, before anything runs -------------------------------------
def declared(**changes) -> dict:
    params = load_params(PROJECT_ROOT / "params.yaml")
    task = params["tasks"]["translation"]
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = task
        for key in parents:
            node = node[key]
        node[leaf] = value
    return params


@pytest.mark.parametrize("changes, message", [
    ({"kind": "summarisation"}, r"tasks.translation.kind: 'summarisation' is not one of translation, dialogue"),
    ({"corpus__format": "dailydialog"}, r"tasks.translation.corpus.format: 'dailydialog' is not a translation format \(multi30k, tsv, csv, jsonl\)"),
    ({"corpus__splits": {"train": "train"}}, r"tasks.translation.corpus.splits: no valid split \(give a file, or cut it from train"),
    ({"corpus__pth": "data/raw/x"}, r"tasks.translation.corpus: unknown key\(s\) pth"),
    ({"corpus__cut_from_train": {"valid": 0.7}}, r"tasks.translation.corpus.cut_from_train: each share must be in \(0, 0.5\)"),
    ({"corpus__cut_from_train": {"valid": 0.1}}, r"tasks.translation.corpus: split\(s\) valid given as a file and as cut_from_train"),
    ({"test_sets": {"test_2016_flickr": "test2016"}}, r"tasks.translation.test_sets: split\(s\) test2016 are not among the corpus splits"),
])
def test_a_badly_declared_task_is_named_by_its_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        task_spec(declared(**changes), "translation")


def test_task_names_are_checked_and_a_name_given_twice_is_refused(tmp_path):
    params = load_params(PROJECT_ROOT / "params.yaml")
    params["tasks"]["de-en"] = params["tasks"]["translation"]
    with pytest.raises(ConfigError, match=r"tasks.de-en: a task name is lower-case letters, digits and '_'"):
        task_names(params)
    with pytest.raises(ConfigError, match=r"unknown task 'music'; params.yaml declares: translation, dialogue"):
        task_section(load_params(PROJECT_ROOT / "params.yaml"), "music", "model")
    text = (PROJECT_ROOT / "params.yaml").read_text()
    twice = text.replace("\n  dialogue:\n    kind: dialogue\n", "\n  translation:\n    kind: dialogue\n", 1)
    assert twice != text
    (tmp_path / "params.yaml").write_text(twice)
    with pytest.raises(ConfigError, match=r"not valid YAML \(.*key 'translation' given twice in one mapping \(first on line \d+\)"):
        load_params(tmp_path / "params.yaml")


def test_a_language_pair_of_one_language_is_refused():
    with pytest.raises(ConfigError, match=r"tasks.translation.data: source_lang and target_lang are both 'de'"):
        data_config(task_spec_of("translation"), {"source_lang": "de", "target_lang": "de", "drop_leaked_from_train": False})
