"""Our weights in CTranslate2 (issue 29): the conversion is exact and the engine answers a request as our decoder
does, on a tiny model trained on real Multi30k pairs."""

from __future__ import annotations

import shutil

import pytest
import torch

from seqgen.ctranslate import CONVERSION_FILE, Engine, NotConvertible, convert, file_md5
from seqgen.data.tokenization import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from seqgen.evaluation.evaluate import Decoding, EvaluateConfig, decode_outputs
from seqgen.io import read_jsonl
from seqgen.models.store import load_model_dir
from seqgen.training.job import train
from tiny import TINY_EVALUATE, tiny_params

pytest.importorskip("ctranslate2")


@pytest.fixture(scope="module")
def converted(tmp_path_factory, translation_ws):
    root = tmp_path_factory.mktemp("ct2")
    shutil.copytree(translation_ws / "data", root / "data")
    params = tiny_params("translation", steps=150)
    train("translation", "mle", params, root=root)
    model_dir = root / "models" / "translation-mle"
    record = convert(model_dir, root / "ct2")
    loaded = load_model_dir(model_dir)
    tokenizer = Tokenizer(loaded.tokenizer_path)
    examples = read_jsonl(root / "data" / "interim" / "translation" / "valid.jsonl")[:40]
    pairs = list(zip(tokenizer.encode([e["source"] for e in examples]), tokenizer.encode([e["target"] for e in examples])))
    pairs = [(s, t) for s, t in pairs if max(len(s), len(t)) < 60][:16]  # the tiny model's positions end at 64
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    return {"root": root, "model_dir": model_dir, "record": record, "loaded": loaded, "params": params,
            "sources": sources, "targets": targets}


def padded(rows: list[list[int]]) -> torch.Tensor:
    out = torch.full((len(rows), max(map(len, rows))), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def test_conversion_is_exact_teacher_forced(converted):
    engine = Engine(converted["root"] / "ct2", compute_type="float32", threads=1)
    sources, targets = converted["sources"], converted["targets"]
    with torch.no_grad():
        ours = converted["loaded"].seq2seq.sequence_log_probs(padded(sources), padded([[BOS_ID] + t for t in targets]),
                                                              padded([t + [EOS_ID] for t in targets]))
    theirs = engine.sequence_log_probs(sources, targets)  # CTranslate2 scores the end token too
    assert ours.tolist() == pytest.approx(theirs, abs=2e-3)
    assert max(abs(a - b) for a, b in zip(ours.tolist(), theirs)) < 2e-3
    assert converted["record"]["model_bin_md5"] == file_md5(converted["root"] / "ct2" / "model.bin")
    assert (converted["root"] / "ct2" / CONVERSION_FILE).is_file()


def test_greedy_answers_as_our_decoder_and_sampling_stays_ours(converted):
    engine = Engine(converted["root"] / "ct2", compute_type="float32", threads=1)
    sources = converted["sources"]
    cfg = EvaluateConfig(**{**TINY_EVALUATE, "precision": "fp32"})  # bf16 where the CPU has it would round differently
    greedy = Decoding(strategy="greedy", num_outputs=2)
    ours = decode_outputs(converted["loaded"], sources, cfg, greedy)
    assert engine.decode(sources, greedy, cfg.max_output_tokens, cfg.length_penalty, cfg.batch_tokens) == ours  # the same argmax at every step
    sampled = Decoding(strategy="sample", num_outputs=3, seed=7)
    assert not Engine.serves(sampled)
    with pytest.raises(ValueError, match="sample"):
        engine.decode(sources, sampled, 40, 0.6)


def test_beam_returns_its_n_best_best_first_and_int8_stays_close(converted):
    fp32 = Engine(converted["root"] / "ct2", compute_type="float32", threads=1)
    int8 = Engine(converted["root"] / "ct2", compute_type="int8", threads=1)
    sources = converted["sources"]
    request = Decoding(strategy="beam", beam=4, num_outputs=3)
    n_best = fp32.decode(sources, request, 60, 0.6)
    assert [len(group) for group in n_best] == [3] * len(sources)
    assert [group[0] for group in n_best] == [g[0] for g in fp32.decode(sources, Decoding(strategy="beam", beam=4), 60, 0.6)]
    quantised = int8.decode(sources, Decoding(strategy="greedy"), 60, 0.6)
    plain = fp32.decode(sources, Decoding(strategy="greedy"), 60, 0.6)
    assert sum(a == b for a, b in zip(quantised, plain)) >= len(sources) // 2  # int8 rounds, it does not rewrite


def test_a_vae_is_refused_by_name(converted, tmp_path):
    model_dir = tmp_path / "vae"
    shutil.copytree(converted["model_dir"], model_dir)
    config = (model_dir / "config.json").read_text().replace('"family": "mle"', '"family": "vae"')
    (model_dir / "config.json").write_text(config)
    with pytest.raises(NotConvertible, match="latent"):
        convert(model_dir, tmp_path / "out")
