"""Several outputs per input (issue 27): the request params of a served model, on tiny models trained on real
Multi30k and DailyDialog slices. The pyfunc over REST, in process and the CLI give one request the same answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seqgen.inference import MAX_OUTPUTS, Generator, InputError, check_request, detokenize
from seqgen.training.job import train
from tiny import tiny_params

SENTENCES = ["A man is riding a bike down the street.", "Two dogs are playing in the snow."]


@pytest.fixture(scope="module")
def vae_model(translation_ws):
    params = tiny_params("translation", steps=60)
    train("translation", "mle", params, root=translation_ws)
    train("translation", "vae", params, root=translation_ws)
    return translation_ws / "models" / "translation-vae"


def test_beam_gives_its_n_best_distinct_and_best_first(vae_model):
    generator = Generator(vae_model)
    best = generator(SENTENCES)
    n_best = generator(SENTENCES, {"num_outputs": 4, "strategy": "beam", "beam": 4})
    assert [len(group) for group in n_best] == [4, 4]
    assert [group[0] for group in n_best] == [group[0] for group in generator(SENTENCES, {"beam": 4})]
    assert all(len(set(group)) > 1 for group in n_best)  # the n best of one search are different sentences
    assert [len(group) for group in best] == [1, 1]


def test_sampling_is_seeded_and_the_latent_draw_varies_greedy_outputs(vae_model):
    generator = Generator(vae_model)
    sampled = {"num_outputs": 5, "strategy": "sample", "temperature": 1.0, "seed": 3}
    first = generator(SENTENCES, sampled)
    assert first == generator(SENTENCES, sampled)  # the same request, the same answer
    assert first != generator(SENTENCES, {**sampled, "seed": 4})
    mean = generator(SENTENCES, {"num_outputs": 5, "strategy": "greedy", "latent": "mean"})
    assert all(len(set(group)) == 1 for group in mean)  # greedy from the prior mean repeats itself
    drawn = generator(SENTENCES, {"num_outputs": 5, "strategy": "greedy", "latent": "sample", "prior_scale": 8.0})
    assert any(len(set(group)) > 1 for group in drawn)  # only the latent varies them


def test_bad_params_are_client_errors_naming_the_param():
    for params, named in (({"num_outputs": 0}, "num_outputs"), ({"num_outputs": MAX_OUTPUTS + 1}, "num_outputs"),
                          ({"temperature": 0}, "temperature"), ({"temperature": -1.0}, "temperature"), ({"top_p": 0.0}, "top_p"),
                          ({"top_p": 1.5}, "top_p"), ({"strategy": "nucleus"}, "strategy"), ({"num_outputs": "5"}, "num_outputs"),
                          ({"num_outputs": True}, "num_outputs"), ({"num_outptus": 5}, "num_outptus"), ("num_outputs=5", "params")):
        with pytest.raises(InputError, match=named):
            check_request(params)
    assert check_request({"top_p": 1, "num_outputs": MAX_OUTPUTS}).top_p == 1.0


def test_cli_prints_each_inputs_outputs_and_refuses_bad_params(vae_model):
    cli = [sys.executable, "-m", "seqgen.cli", "translate", "--model", str(vae_model)]
    request = ["--num-outputs", "3", "--sample", "--seed", "5"]
    result = subprocess.run([*cli, *request, *SENTENCES], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = Generator(vae_model)(SENTENCES, {"num_outputs": 3, "strategy": "sample", "seed": 5})
    assert result.stdout == "".join("\n".join(group) + "\n\n" for group in expected)
    assert "Warning" not in result.stderr
    bad = subprocess.run([*cli, "--temperature", "0", *SENTENCES], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "param temperature" in bad.stderr and "Traceback" not in bad.stderr


def test_outputs_read_as_a_person_writes():
    assert detokenize("I ’ m sorry .") == "I'm sorry."
    assert detokenize("Yes , it ' s fine . What about you ?") == "Yes, it's fine. What about you?"
    assert detokenize("I don't know ( maybe ) !") == "I don't know (maybe)!"
    assert json.dumps(detokenize("That's 50 % off .")) == '"That\'s 50% off."'


def test_frontier_sweeps_each_knob_on_validation_and_the_report_draws_it(vae_model, translation_ws, tmp_path):
    from seqgen.config import from_mapping
    from seqgen.evaluation.evaluate import EvaluateConfig
    from seqgen.evaluation.frontier import FrontierConfig, sweep
    from seqgen.models.store import load_model_dir
    from seqgen.report import frontier_chart
    from tiny import TINY_EVALUATE

    cfg = FrontierConfig(split="valid", examples=12, samples=3, temperatures=[0.3, 1.5], top_p=1.0, prior_scales=[1.0, 8.0])
    decode_cfg = from_mapping(EvaluateConfig, dict(TINY_EVALUATE, precision="fp32"), "evaluate")
    rows = sweep(load_model_dir(vae_model), translation_ws / "data/interim/translation", decode_cfg, cfg, seed=1)
    assert [(r["curve"], r["value"]) for r in rows] == [("beam", 3.0), ("greedy", 0.0), ("sampling", 0.3), ("sampling", 1.5),
                                                        ("prior", 1.0), ("prior", 8.0)]
    by = {(r["curve"], r["value"]): r for r in rows}
    assert by[("greedy", 0.0)]["pairwise_bleu"] == pytest.approx(100.0)  # one output repeated: no diversity
    assert by[("sampling", 1.5)]["pairwise_bleu"] < by[("sampling", 0.3)]["pairwise_bleu"]  # hotter: more diverse
    assert by[("prior", 8.0)]["pairwise_bleu"] < 100.0  # a wide prior draw alone varies greedy outputs
    table = [{k: str(v) for k, v in r.items()} for r in rows]
    frontier_chart({"vae": table, "mle": table[:4]}, "translation", "translation (validation)", tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
