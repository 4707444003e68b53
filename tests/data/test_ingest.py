import json

from helpers import task_spec_of
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig, example_key, ingest
from seqgen.io import read_jsonl


def test_translation_ingest_writes_normalised_jsonl_per_split(tmp_path, raw_slices):
    cfg = TranslationDataConfig(source_lang="en", target_lang="de", drop_leaked_from_train=False)
    stats = ingest(task_spec_of("translation"), cfg, raw_slices / "multi30k", tmp_path / "out", tmp_path / "report.json")
    assert stats["rows"] == {"train": 401, "valid": 40, "test": 40, "test2017": 40}
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert train[0] == {
        "id": "train-1",
        "source": "Two young, White males are outside near many bushes.",
        "target": "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    }
    # The TAB line: quotes unwrapped, TAB folded into a space.
    assert train[-1]["target"] == "Zwei männliche und eine weibliche Person spielen in einer Wasserfontäne."
    assert json.loads((tmp_path / "report.json").read_text())["eval_examples_found_in_train"] == 0


def test_dialogue_ingest_builds_context_windows_and_folds_apostrophes(tmp_path, raw_slices):
    cfg = DialogueDataConfig(max_context_turns=2, drop_leaked_from_train=False)
    ingest(task_spec_of("dialogue"), cfg, raw_slices / "dailydialog", tmp_path / "out", tmp_path / "report.json")
    test = read_jsonl(tmp_path / "out" / "test.jsonl")
    assert test[0] == {"id": "test-1-1", "context": ["Hey man , you wanna buy some weed ?"], "target": "Some what ?"}
    assert test[2]["context"] == ["Some what ?", "Weed ! You know ? Pot , Ganja , Mary Jane some chronic !"]
    assert all(1 <= len(e["context"]) <= 2 for e in test)
    assert any("I ' ll even give you" in e["target"] for e in test)  # was "I ’ ll"
    assert not any("\u2019" in e["target"] for e in test)


def test_dialogue_leaked_examples_are_dropped_from_train_and_counted(tmp_path, raw_slices):
    cfg = DialogueDataConfig(max_context_turns=2, drop_leaked_from_train=True)
    # Copy a test dialogue into train: every one of its examples leaks.
    import shutil

    from helpers import read_zip_lines, write_zip_lines, zip_member

    raw = tmp_path / "raw"
    shutil.copytree(raw_slices / "dailydialog", raw)
    test_dialogue = read_zip_lines(raw / "test.zip", zip_member("test"))[1]
    train = read_zip_lines(raw / "train.zip", zip_member("train"))
    write_zip_lines(raw / "train.zip", zip_member("train"), train + [test_dialogue])
    stats = ingest(task_spec_of("dialogue"), cfg, raw, tmp_path / "out", tmp_path / "report.json")
    leaked_turns = test_dialogue.count(b"__eou__") - 1
    assert stats["train_examples_dropped_as_leaked"] == leaked_turns == 3
    held_out = {example_key(e) for e in read_jsonl(tmp_path / "out" / "test.jsonl")}
    assert not any(example_key(e) in held_out for e in read_jsonl(tmp_path / "out" / "train.jsonl"))
