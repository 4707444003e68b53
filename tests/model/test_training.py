"""Model behaviour on tiny configs over slices of the real corpora (see conftest.py)."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys

import pytest
import torch

from tiny import tiny_params
from seqgen.config import from_mapping
from seqgen.data.tokenization import EOS_ID, Tokenizer
from seqgen.decoding import generate
from seqgen.errors import ConfigError
from seqgen.models.store import load_model_dir
from seqgen.training.job import build_job, train
from seqgen.training.batching import evaluation_batches
from seqgen.families.gan import GANConfig, bigram_novelty, leave_one_out_advantage
from seqgen.training.trainer import Trainer


def weights(model_dir) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "model.pt", weights_only=True)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def train_perplexity(ws, task: str) -> float:
    """Perplexity of the trained model on its own training data (teacher forced, eval mode)."""
    from seqgen.data.tokenization import load_encoded

    loaded = load_model_dir(ws / "models" / f"{task}-mle")
    nll = tokens = 0.0
    with torch.no_grad():
        for batch in evaluation_batches(load_encoded(ws / "data" / "processed" / task / "train.npz"), 2000, 64):
            _, n, t = loaded.model(batch.src, batch.tgt_in, batch.tgt_out)
            nll, tokens = nll + float(n), tokens + int(t)
    return math.exp(nll / tokens)


def test_mle_overfits_200_pairs(translation_ws):
    params = tiny_params("translation", steps=400)
    summary = train("translation", "mle", params, root=translation_ws)
    assert summary["finished"] and summary["steps"] == 400
    # A unigram model of this data has perplexity in the hundreds; memorising 200 pairs takes it near 1.
    assert train_perplexity(translation_ws, "translation") < 2.0
    assert (translation_ws / "plots" / "train" / "translation-mle.tsv").read_text().startswith("step\t")
    recorded = (translation_ws / "models" / "translation-mle" / "training.json").read_text()
    assert '"git_commit"' in recorded and '"data_md5"' in recorded


def test_vae_learns_a_used_latent_and_z_changes_the_output(translation_ws):
    params = tiny_params("translation", steps=200)
    train("translation", "mle", params, root=translation_ws)
    vae = params["tasks"]["translation"]["train"]["vae"]
    vae["trainer"].update(steps=80, lr=0.002)
    vae["vae"].update(kl_anneal="linear", anneal_steps=40, free_bits=0.0, word_dropout=0.3, bow_weight=1.0, latent=16)
    summary = train("translation", "vae", params, root=translation_ws)
    final = summary["final"]
    assert final["valid_kl_per_sentence"] > 0.0
    assert all(math.isfinite(v) for v in final.values())
    loaded = load_model_dir(translation_ws / "models" / "translation-vae")
    tokenizer = Tokenizer(loaded.tokenizer_path)
    src = torch.tensor(tokenizer.encode(["A man in a blue shirt is standing on a ladder."]) * 8)
    torch.manual_seed(0)
    extras = [loaded.model.decoder_extra(src, sample=True) for _ in range(2)]
    assert not torch.equal(extras[0], extras[1])
    outputs = {tuple(o) for extra in extras for o in generate(loaded.seq2seq, src, 64, extra=extra)[0]}
    assert len(outputs) > 1  # different z, different sentences
    mean_a = generate(loaded.seq2seq, src[:1], 64, extra=loaded.model.decoder_extra(src[:1], sample=False))[0]
    mean_b = generate(loaded.seq2seq, src[:1], 64, extra=loaded.model.decoder_extra(src[:1], sample=False))[0]
    assert mean_a == mean_b  # z = prior mean is deterministic


def test_gan_discriminator_learns_and_policy_gradient_moves_the_generator(translation_ws):
    params = tiny_params("translation", steps=200)
    train("translation", "mle", params, root=translation_ws)
    gan = params["tasks"]["translation"]["train"]["gan"]
    gan["gan"].update(d_pretrain_steps=10, pg_steps_per_mle_step=1000)  # after pre-training: policy gradient only
    job, *_ = build_job("translation", "gan", params, root=translation_ws)
    trainer = Trainer(job)
    warm = {k: v.clone() for k, v in job.objective.model.state_dict().items()}
    stream = iter(lambda: next(trainer.stream), None)
    accuracies = []
    for _ in range(10):
        accuracies.append(trainer.train_step(next(stream))["d_accuracy"])
        trainer.step += 1
    assert sum(accuracies[-3:]) / 3 > 0.5
    before = {k: v.clone() for k, v in job.objective.model.state_dict().items()}
    metrics = trainer.train_step(next(stream))
    assert metrics["pg"] == 1.0 and 0.0 <= metrics["reward"] <= 1.0
    assert job.objective.baseline == metrics["reward"]  # the baseline starts at the first rewards, not at 0
    moved = [k for k, v in job.objective.model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(moved) > 10
    assert any(not torch.equal(before[k], warm[k]) for k in warm)


def gan_after_one_pre_step(workspace, **gan_settings):
    """A tiny MLE trained in workspace, then a GAN trainer on it with gan_settings, after the discriminator's first
    update (which draws the batch's fakes): (trainer, objective, that batch)."""
    params = tiny_params("translation", steps=200)
    train("translation", "mle", params, root=workspace)
    params["tasks"]["translation"]["train"]["gan"]["gan"].update(gan_settings)
    job, *_ = build_job("translation", "gan", params, root=workspace)
    trainer = Trainer(job)
    batch = next(trainer.stream)
    job.objective.pre_step(batch, 0)
    return trainer, job.objective, batch


def test_gan_samples_per_source_and_novelty_reward(translation_ws):
    """K samples per source judged against their siblings (leave-one-out), and a reward that pays for bigrams
    no other sample in the batch has."""
    trainer, objective, batch = gan_after_one_pre_step(translation_ws, d_pretrain_steps=0, pg_steps_per_mle_step=1000,
                                                       samples_per_source=4, novelty_reward_weight=0.5)
    fakes = objective._fakes
    keep = -(-batch.size // 4)
    assert fakes.src.size(0) == 4 * keep  # about one sample per source's cost
    assert torch.equal(fakes.src[::4], batch.src[:keep]) and torch.equal(fakes.src[3::4], batch.src[:keep])
    assert torch.equal(fakes.reference[1::4], batch.tgt_out[:keep])
    assert len({tuple(o) for o in fakes.outputs[:4]}) > 1  # siblings are separate samples

    novelty = torch.tensor(bigram_novelty(fakes.outputs))
    with_novelty = objective.reward(fakes)
    objective.cfg = dataclasses.replace(objective.cfg, novelty_reward_weight=0.0)
    assert torch.allclose(with_novelty - objective.reward(fakes), 0.5 * novelty)
    objective.cfg = dataclasses.replace(objective.cfg, novelty_reward_weight=0.5)

    before = {k: v.clone() for k, v in objective.model.state_dict().items()}
    metrics = trainer.train_step(batch)
    assert metrics["pg"] == 1.0 and objective.baseline is None  # the siblings are the baseline, no moving average
    assert any(not torch.equal(v, before[k]) for k, v in objective.model.state_dict().items())


def test_gan_risk_objective_scores_the_beams_k_best(translation_ws):
    """generator_objective risk: the fakes are the beam's K best of the batch's first 1/K sources (best first, the
    beam's own output among them), the loss is a * token loss + (1 - a) * the expected cost under p renormalised over
    the K, and it moves the generator; a = 1 is the teacher-forced loss alone."""
    from seqgen.decoding import beam_search

    trainer, objective, batch = gan_after_one_pre_step(translation_ws, generator_objective="risk", samples_per_source=3, bleu_reward_weight=1.0,
                                                       d_pretrain_steps=0, pg_steps_per_mle_step=1000, risk_token_weight=0.3)
    fakes = objective._fakes
    keep = -(-batch.size // 3)
    assert fakes.src.size(0) == 3 * keep and torch.equal(fakes.src[1::3], batch.src[:keep])
    best, _ = beam_search(objective.model, batch.src[:keep], objective.model.cfg.max_len, beam=3)
    assert [o or [EOS_ID] for o in best] == fakes.outputs[::3]  # the first of each group is the beam's output

    loss, tokens, metrics = objective.loss(batch, 1)
    mle_loss, mle_tokens, _ = super(type(objective), objective).loss(batch, 1)
    assert tokens == mle_tokens and 0.0 <= metrics["risk"] <= 1.0 and metrics["pg"] == 1.0
    with torch.no_grad():
        log_probs = objective.model.sequence_log_probs(fakes.src, fakes.tgt_in, fakes.tgt_out).view(-1, 3)
        expected_risk = float((log_probs.softmax(dim=1) * (1 - objective.reward(fakes).view(-1, 3))).sum(dim=1).mean())
    assert math.isclose(metrics["risk"], expected_risk, rel_tol=1e-3)
    assert math.isclose(float(loss) / tokens, 0.3 * float(mle_loss) / tokens + 0.7 * expected_risk, rel_tol=1e-3)
    objective.cfg = dataclasses.replace(objective.cfg, risk_token_weight=1.0)
    assert math.isclose(float(objective.loss(batch, 1)[0]), float(mle_loss), rel_tol=1e-5)
    objective.cfg = dataclasses.replace(objective.cfg, risk_token_weight=0.3)

    before = {k: v.clone() for k, v in objective.model.state_dict().items()}
    trainer.step = 1
    assert trainer.train_step(batch)["pg"] == 1.0
    assert any(not torch.equal(v, before[k]) for k, v in objective.model.state_dict().items())
    tiny = tiny_params("translation")["tasks"]["translation"]["train"]["gan"]["gan"]
    for bad, message in [({"generator_objective": "mrt"}, "generator_objective"), ({"generator_objective": "risk", "samples_per_source": 1}, "samples_per_source"),
                         ({"risk_token_weight": 1.5}, "risk_token_weight")]:
        with pytest.raises(ConfigError, match=message):
            from_mapping(GANConfig, dict(tiny, **bad), "tasks.translation.train.gan.gan")


def test_leave_one_out_advantage_and_bigram_novelty():
    reward = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0])
    advantage = leave_one_out_advantage(reward, 4)
    assert torch.allclose(advantage[:4], torch.tensor([1 - 1 / 3, 0 - 2 / 3, 0.5 - 1.5 / 3, 0.5 - 1.5 / 3]))
    assert torch.equal(advantage[4:], torch.zeros(4))  # equally good siblings: nothing to learn
    assert bigram_novelty([[1, 2, 3], [1, 2, 4], [5], [6, 7, 6, 7]]) == [0.5, 0.5, 0.0, 1.0]
    with pytest.raises(ConfigError, match="samples_per_source"):
        tiny = tiny_params("translation")["tasks"]["translation"]["train"]["gan"]["gan"]
        from_mapping(GANConfig, dict(tiny, samples_per_source=0), "tasks.translation.train.gan.gan")


def test_gan_keeps_the_best_checkpoint_by_validation_bleu(translation_ws):
    params = tiny_params("translation", steps=200)
    train("translation", "mle", params, root=translation_ws)
    summary = train("translation", "gan", params, root=translation_ws)
    history = (translation_ws / "plots" / "train" / "translation-gan.tsv").read_text().splitlines()
    header = history[0].split("\t")
    scored = [row.split("\t") for row in history[1:] if row.split("\t")[header.index("valid_bleu")]]
    bleus = [float(row[header.index("valid_bleu")]) for row in scored]
    assert int(scored[0][header.index("step")]) == 0  # the warm start is scored and is a candidate
    assert summary["best_valid_bleu"] == max(bleus)  # so the kept model is never worse than the warm start


def test_training_is_deterministic(translation_ws, tmp_path):
    params = tiny_params("translation", steps=30)
    params["tasks"]["translation"]["model"]["dropout"] = 0.1  # exercise the RNG too
    train("translation", "mle", params, root=translation_ws)
    first = weights(translation_ws / "models" / "translation-mle")
    train("translation", "mle", params, root=translation_ws)
    assert_same_weights(first, weights(translation_ws / "models" / "translation-mle"))


def test_resume_after_interruption_gives_identical_weights(translation_ws):
    params = tiny_params("translation", steps=50)
    params["tasks"]["translation"]["model"]["dropout"] = 0.1
    train("translation", "mle", params, root=translation_ws)
    uninterrupted = weights(translation_ws / "models" / "translation-mle")
    checkpoint = translation_ws / ".checkpoints" / "translation-mle" / "checkpoint.pt"
    assert not checkpoint.exists()  # a finished run cleans up
    partial = train("translation", "mle", params, root=translation_ws, stop_after=27)  # "killed" after step 27
    assert not partial["finished"] and checkpoint.is_file()
    resumed = train("translation", "mle", params, root=translation_ws)
    assert resumed["finished"]
    assert_same_weights(uninterrupted, weights(translation_ws / "models" / "translation-mle"))


def test_checkpoint_averaging_keeps_the_mean_of_the_last_checkpoints(translation_ws):
    params = tiny_params("translation", steps=30)
    params["train"]["run"]["checkpoint_every"] = 10
    checkpoint = translation_ws / ".checkpoints" / "translation-mle" / "checkpoint.pt"
    kept = []
    for stop in (10, 20):  # the run "killed" at each checkpoint: its weights there
        train("translation", "mle", params, root=translation_ws, stop_after=stop)
        kept.append(torch.load(checkpoint, weights_only=True)["model"])
    train("translation", "mle", params, root=translation_ws)
    kept.append(weights(translation_ws / "models" / "translation-mle"))

    params["tasks"]["translation"]["train"]["mle"]["trainer"]["average_last"] = 3
    summary = train("translation", "mle", params, root=translation_ws)
    averaged = weights(translation_ws / "models" / "translation-mle")
    assert summary["averaged_checkpoints"] == 3 and "valid_ppl" in summary["averaged_valid"]
    for name, tensor in averaged.items():
        assert torch.allclose(tensor, torch.stack([k[name] for k in kept]).mean(0), atol=1e-6), name
    assert not torch.equal(averaged["embed.weight"], kept[-1]["embed.weight"])

    # Selecting by validation BLEU, the average is one more candidate: kept only if it scores best.
    params["tasks"]["translation"]["train"]["mle"]["trainer"].update(select_best_by="valid_bleu", eval_every=10)
    summary = train("translation", "mle", params, root=translation_ws)
    rows = (translation_ws / "plots" / "train" / "translation-mle.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    bleus = [float(r.split("\t")[header.index("valid_bleu")]) for r in rows[1:] if r.split("\t")[header.index("valid_bleu")]]
    assert bleus[-1] == summary["averaged_valid"]["valid_bleu"]  # the average's row comes last
    assert summary["best_valid_bleu"] == max(bleus) and summary["best_is_average"] == (bleus[-1] > max(bleus[:-1]))


def test_checkpoint_of_other_params_is_not_resumed(translation_ws):
    params = tiny_params("translation", steps=40)
    train("translation", "mle", params, root=translation_ws, stop_after=20)
    changed = tiny_params("translation", steps=40, lr=0.001)
    job, *_ = build_job("translation", "mle", changed, root=translation_ws)
    assert not Trainer(job).try_resume()


def test_dialogue_mle_trains_on_context_windows(dialogue_ws):
    params = tiny_params("dialogue", steps=40)
    summary = train("dialogue", "mle", params, root=dialogue_ws)
    assert summary["finished"] and math.isfinite(summary["final"]["valid_ppl"])


DDP_SCRIPT = """
import sys, torch
sys.path[:0] = {paths!r}
from tiny import tiny_params
from seqgen.training.job import train
params = tiny_params("translation", steps=8)
params["train"]["run"]["threads"] = 1
train("translation", "mle", params, root=__import__("pathlib").Path({root!r}))
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_data_parallel_processes_match_one_process(translation_ws, tmp_path):
    tests_dir = os.path.dirname(os.path.dirname(__file__))
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(paths=[tests_dir, os.path.join(tests_dir, "model")], root=str(translation_ws)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log = translation_ws / "plots" / "train" / "translation-mle.tsv"

    def last_logged() -> dict[str, str]:
        header, *rows = (line.split("\t") for line in log.read_text().splitlines())
        return [dict(zip(header, row)) for row in rows if row[header.index("loss")]][-1]

    single = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    one, one_log = weights(translation_ws / "models" / "translation-mle"), last_logged()
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "world_size" in (translation_ws / "models" / "translation-mle" / "training.json").read_text()
    assert '"world_size": 2' in (translation_ws / "models" / "translation-mle" / "training.json").read_text()
    ddp, ddp_log = weights(translation_ws / "models" / "translation-mle"), last_logged()
    # The global loss and gradient norm (after the all-reduce) are those of the single process...
    for key in ("loss", "grad_norm"):
        assert float(ddp_log[key]) == pytest.approx(float(one_log[key]), rel=1e-4), key
    # ...and so are the weights, up to float summation order. Attention key biases get (mathematically)
    # zero gradient, which Adam turns float noise of ~1e-10 into ~1e-5 steps: hence atol 1e-4, against
    # weight updates of ~1e-2 over these steps.
    for name in one:
        torch.testing.assert_close(ddp[name], one[name], rtol=1e-4, atol=1e-4, msg=name)
