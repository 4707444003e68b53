import numpy as np
import pytest

from helpers import task_spec_of
from seqgen.data.ingest import DialogueDataConfig, TranslationDataConfig, ingest
from seqgen.data.tokenization import (
    EOS_ID,
    TokenizeConfig,
    Tokenizer,
    encode_split,
    load_encoded,
    save_encoded,
    train_sentencepiece,
    training_sentences,
)
from seqgen.errors import ConfigError, DataError
from seqgen.io import read_jsonl
from seqgen.text import normalize

CFG = TokenizeConfig(vocab_size=600, model_type="unigram", character_coverage=1.0, num_threads=2)


@pytest.fixture(scope="module")
def translation(tmp_path_factory, raw_slices):
    root = tmp_path_factory.mktemp("tok")
    ingest(task_spec_of("translation"), TranslationDataConfig("en", "de", False), raw_slices / "multi30k", root / "interim", root / "r.json")
    splits = {p.stem: read_jsonl(p) for p in (root / "interim").glob("*.jsonl")}
    train_sentencepiece(training_sentences("translation", splits["train"]), root / "spm.model", CFG)
    return root, splits, Tokenizer(root / "spm.model")


def test_round_trip_returns_the_normalised_text(translation):
    _, splits, tok = translation
    texts = [e[side] for split in splits.values() for e in split for side in ("source", "target")]
    assert tok.decode(tok.encode(texts)) == texts
    # Text never seen in training, with characters outside the vocabulary (byte fallback).
    unseen = [normalize("Ein Straßen\u00a0Musiker spielt „Für Elise“ – 3½ Mal, ça va? 你好")]
    assert tok.decode(tok.encode(unseen)) == unseen


def test_joint_vocabulary_covers_both_languages(translation):
    _, _, tok = translation
    ids = tok.encode(["A dog runs.", "Ein Hund läuft."])
    assert all(1 not in seq for seq in ids)  # no <unk>: both languages are in the one vocabulary
    assert tok.vocab_size == CFG.vocab_size


def test_tokenizer_learns_from_train_only(translation):
    _, splits, _ = translation
    learned = set(training_sentences("translation", splits["train"]))
    assert not learned & {e["source"] for e in splits["test"]}
    assert len(learned) <= 2 * len(splits["train"])


def test_training_is_deterministic(tmp_path, translation):
    root, splits, _ = translation
    train_sentencepiece(training_sentences("translation", splits["train"]), tmp_path / "again.model", CFG)
    assert (tmp_path / "again.model").read_bytes() == (root / "spm.model").read_bytes()


def test_encoded_split_round_trips_through_npz(tmp_path, translation):
    _, splits, tok = translation
    encoded = encode_split(tok, "translation", splits["valid"])
    save_encoded(tmp_path / "valid.npz", encoded)
    loaded = load_encoded(tmp_path / "valid.npz")
    assert len(loaded) == 40 and loaded.ids[0] == "valid-1"
    assert loaded.source_ids.dtype == np.int32
    assert tok.decode([loaded.target(3)]) == [splits["valid"][3]["target"]]
    assert EOS_ID not in loaded.target_ids  # BOS/EOS are the trainer's business


def test_dialogue_context_turns_are_joined_by_the_separator(tmp_path, raw_slices):
    ingest(task_spec_of("dialogue"), DialogueDataConfig(3, True), raw_slices / "dailydialog", tmp_path / "interim", tmp_path / "r.json")
    train = read_jsonl(tmp_path / "interim" / "train.jsonl")
    train_sentencepiece(training_sentences("dialogue", train), tmp_path / "spm.model", CFG)
    tok = Tokenizer(tmp_path / "spm.model")
    example = next(e for e in train if len(e["context"]) == 3)
    (ids,) = tok.encode_context([example["context"]])
    pieces = np.split(np.array(ids), np.flatnonzero(np.array(ids) == tok.sep_id))
    turns = [p[p != tok.sep_id] for p in pieces]
    assert tok.decode(turns) == example["context"]


def test_bad_config_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="model_type"):
        TokenizeConfig(vocab_size=8000, model_type="wordpiece", character_coverage=1.0, num_threads=1)
    with pytest.raises(DataError, match="tokenizer model not found"):
        Tokenizer(tmp_path / "nope.model")
    with pytest.raises(DataError, match="encoded split not found"):
        load_encoded(tmp_path / "nope.npz")
