"""Evaluate one trained model on its task's test data: decode, score, and collect sample outputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import torch

from seqgen.data.tokenization import Tokenizer, load_encoded
from seqgen.decoding import beam_search, beam_search_n_best, generate
from seqgen.evaluation.metrics import (corpus_bleu, corpus_chrf, dialog_distinct, distinct_n, multi_sample_bleu, pairwise_bleu,
                                      tokenised_lowercased_bleu)
from seqgen.io import read_jsonl
from seqgen.models.store import LoadedModel
from seqgen.training.batching import evaluation_batches

@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    beam: int  # beam size of the primary output
    length_penalty: float  # GNMT alpha (0: raw log-probability)
    batch_tokens: int  # source tokens per decoding batch
    samples: int  # sampled outputs per source (dialogue: per context, DialogWAE: 10); 0: none
    temperature: float  # sampling temperature
    top_k: int  # sampling: keep the k most likely tokens (0: all)
    top_p: float  # sampling: nucleus mass (1.0: all)
    max_contexts: int  # dialogue: the first N test contexts scored, by beam and by sampling (0: all); perplexity uses all
    report_examples: int  # examples written to reports/samples/
    seed: int  # for sampled outputs
    max_output_tokens: int  # cap on generated tokens (also 1.5 x source + 10)
    precision: str = "auto"  # auto: bf16 autocast where the hardware has it; bf16; fp32
    prior_scale: float = 1.0  # the VAE's prior draws in the dialogue protocol's greedy decoding: z = mu + s * sigma * eps


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How to decode several outputs per input: a served request's params (seqgen.inference.PARAMS) and the sweeps'."""

    num_outputs: int = 1  # outputs per input
    strategy: str = "beam"  # beam: the n best of a beam search; greedy; sample: token sampling
    beam: int = 5  # beam size (widened to num_outputs when smaller)
    temperature: float = 1.0  # sample: softmax temperature
    top_k: int = 0  # sample: keep the k most likely tokens (0: all)
    top_p: float = 1.0  # sample: nucleus mass
    latent: str = "mean"  # VAE only: z = its prior mean, or a prior draw for each output (other families have no latent)
    prior_scale: float = 1.0  # VAE, latent sample: z = mu + prior_scale * sigma * eps
    seed: int = 1234  # of the draws (sampled tokens, prior draws)



def encode_sources(kind: str, tokenizer: Tokenizer, examples: Sequence[dict], max_len: int) -> list[list[int]]:
    ids = tokenizer.encode_context([e["context"] for e in examples]) if kind == "dialogue" else tokenizer.encode([e["source"] for e in examples])
    return [s[-max_len:] for s in ids]  # over-long inputs keep their most recent tokens, as in training


def _batches(sources: list[list[int]], batch_tokens: int):
    """Length-sorted batches of (original positions, padded source tensor)."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    start = 0
    while start < len(order):
        end, longest = start + 1, max(1, len(sources[order[start]]))
        while end < len(order) and (end - start + 1) * max(longest, len(sources[order[end]])) <= batch_tokens:
            longest = max(longest, len(sources[order[end]]))
            end += 1
        chosen = order[start:end]
        src = torch.zeros(len(chosen), max(1, longest), dtype=torch.long)
        for row, i in enumerate(chosen):
            src[row, : len(sources[i])] = torch.tensor(sources[i], dtype=torch.long)
        yield chosen, src
        start = end


def decode(loaded: LoadedModel, sources: list[list[int]], cfg: EvaluateConfig, *, sample: bool = False, beam: int | None = None) -> list[list[int]]:
    """Output ids for every source, in input order. beam > 1: beam search; sample: token sampling with the
    configured temperature / top-k / top-p; otherwise greedy. The VAE decodes with z = prior mean, and when
    sampling draws z from the prior as well: the same token sampling as every family, so the VAE's samples
    differ from the MLE's only by what the latent adds (greedy from a prior z alone barely moves the output)."""
    from seqgen import runtime

    out: list[list[int]] = [[] for _ in sources]
    max_len = min(loaded.seq2seq.cfg.max_len, cfg.max_output_tokens)
    device = next(loaded.model.parameters()).device
    with runtime.inference(device, cfg.precision):
        for chosen, src in _batches(sources, cfg.batch_tokens):
            src = src.to(device)  # batches are built on the CPU; the model may live on a GPU
            extra = loaded.behaviour.decoder_extra(loaded.model, src, sample)
            if beam and beam > 1 and not sample:
                ids, _ = beam_search(loaded.seq2seq, src, max_len, beam=beam, alpha=cfg.length_penalty, extra=extra)
            elif sample:
                ids, _ = generate(
                    loaded.seq2seq, src, max_len, sample=True, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p, extra=extra
                )
            else:
                ids, _ = generate(loaded.seq2seq, src, max_len, extra=extra)
            for position, hypothesis in zip(chosen, ids):
                out[position] = hypothesis
    return out


def decode_outputs(loaded: LoadedModel, sources: list[list[int]], cfg: EvaluateConfig, decoding: Decoding) -> list[list[list[int]]]:
    """decoding.num_outputs output ids for every source, in input order. beam:
    the n best of one beam search (beam widened to n), best first; greedy and sample: n decodings of each source
    (greedy repeats itself unless a VAE draws its latent); the VAE's z is its prior mean, or with latent
    "sample" a prior draw per output (beam: one draw per source), spread by prior_scale. cfg gives the batch size, output cap and precision.
    Draws come from torch's global generator: seed it first."""
    from seqgen import runtime

    n = decoding.num_outputs
    out: list[list[list[int]]] = [[] for _ in sources]
    max_len = min(loaded.seq2seq.cfg.max_len, cfg.max_output_tokens)
    device = next(loaded.model.parameters()).device
    per_batch = cfg.batch_tokens if decoding.strategy == "beam" else max(1, cfg.batch_tokens // n)  # n rows a source
    with runtime.inference(device, cfg.precision):
        for chosen, src in _batches(sources, per_batch):
            src = src.to(device)
            if decoding.strategy == "beam":
                beam = max(decoding.beam, n)
                extra = loaded.behaviour.decoder_extra(loaded.model, src, decoding.latent == "sample", decoding.prior_scale)
                groups, _ = beam_search_n_best(loaded.seq2seq, src, max_len, beam=beam, alpha=cfg.length_penalty, extra=extra, n_best=n)
            else:
                rows = src.repeat_interleave(n, dim=0)  # output j of source i is row i*n + j
                extra = loaded.behaviour.decoder_extra(loaded.model, rows, decoding.latent == "sample", decoding.prior_scale)
                ids, _ = generate(loaded.seq2seq, rows, max_len, sample=decoding.strategy == "sample", temperature=decoding.temperature,
                                  top_k=decoding.top_k, top_p=decoding.top_p, extra=extra)
                groups = [ids[i * n:(i + 1) * n] for i in range(len(chosen))]
            for position, group in zip(chosen, groups):
                out[position] = group
    return out


def greedy_protocol(loaded: LoadedModel, tokenizer: Tokenizer, sources: list[list[int]], references: list[str], cfg: EvaluateConfig) -> dict[str, Any]:
    """The DialogWAE/kgCVAE decoding of cfg.samples responses per context: a latent model decodes each prior draw
    greedily, a model without a latent (mle, gan) decodes greedily once, so its responses are one repeated. Their
    BLEU (both smoothings) and intra/inter-distinct, as published tables report them."""
    has_latent = loaded.config.get("latent") is not None
    decoding = Decoding(num_outputs=cfg.samples if has_latent else 1, strategy="greedy", latent="sample", prior_scale=cfg.prior_scale)
    outputs = [tokenizer.decode(group) for group in decode_outputs(loaded, sources, cfg, decoding)]
    per_context = [group * (cfg.samples // len(group)) for group in outputs]
    return {**multi_sample_bleu(per_context, references), **dialog_distinct(per_context),
            "decoding": f"greedy from a prior draw per response (prior scale {cfg.prior_scale:g})" if has_latent else "greedy (one response, repeated)"}


def perplexity(loaded: LoadedModel, split_path: Path, batch_tokens: int) -> dict[str, float]:
    """Teacher-forced test perplexity and the family's own held-out measures (the VAE: exp(-ELBO/tokens), an
    upper bound on it, with the KL per sentence and the active units of its latent)."""
    batches = evaluation_batches(load_encoded(split_path), batch_tokens, loaded.seq2seq.cfg.max_len)
    loaded.model.eval()
    return loaded.behaviour.held_out(loaded.model, batches)


def evaluate(loaded: LoadedModel, interim: Path, processed: Path, cfg: EvaluateConfig, *, test_sets: dict[str, str],
             target_lang: str | None = None) -> tuple[dict[str, Any], list[dict]]:
    """(metrics, sample rows) for one model on its task's test sets ({reported name: split}, `tasks.<task>.test_sets`;
    the first is the headline). A translation model given its `target_lang` is also scored as the published Multi30k
    figures are (bleu_lc_tok: lower-cased, Moses-tokenised; its signature beside it)."""
    torch.manual_seed(cfg.seed)
    tokenizer = Tokenizer(loaded.tokenizer_path)
    max_len = loaded.seq2seq.cfg.max_len
    metrics: dict[str, Any] = {"task": loaded.task, "family": loaded.family}
    samples: list[dict] = []
    for name, split in test_sets.items():
        examples = read_jsonl(interim / f"{split}.jsonl")
        if loaded.kind == "dialogue" and cfg.max_contexts:
            examples = examples[: cfg.max_contexts]  # beam and sampled metrics on the same contexts
        references = [e["target"] for e in examples]
        sources = encode_sources(loaded.kind, tokenizer, examples, max_len)
        hypotheses = tokenizer.decode(decode(loaded, sources, cfg, beam=cfg.beam))
        bleu, bleu_signature = corpus_bleu(hypotheses, references)
        entry: dict[str, Any] = {"bleu": bleu, "bleu_signature": bleu_signature, "examples": len(examples)}
        if loaded.kind == "translation":
            entry["chrf"], entry["chrf_signature"] = corpus_chrf(hypotheses, references)
            if target_lang:
                entry["bleu_lc_tok"], entry["bleu_lc_tok_signature"] = tokenised_lowercased_bleu(hypotheses, references, target_lang)
            if cfg.samples:  # k sampled translations per source: how good each is, and how different
                sampled = [tokenizer.decode(decode(loaded, sources, cfg, sample=True)) for _ in range(cfg.samples)]
                entry.update(sample_bleu=sum(corpus_bleu(s, references)[0] for s in sampled) / len(sampled), samples_per_source=cfg.samples)
                if cfg.samples > 1:
                    entry["pairwise_bleu"] = pairwise_bleu(sampled)
        else:
            sampled = [tokenizer.decode(decode(loaded, sources, cfg, sample=True)) for _ in range(cfg.samples)]
            per_context = [list(group) for group in zip(*sampled)]
            entry.update(multi_sample_bleu(per_context, references))
            flat = [s for group in per_context for s in group]
            entry.update(distinct_1=distinct_n(flat, 1), distinct_2=distinct_n(flat, 2), **dialog_distinct(per_context),
                         contexts_sampled=len(examples), samples_per_context=cfg.samples)
            entry["greedy"] = greedy_protocol(loaded, tokenizer, sources, references, cfg)
        metrics[name] = entry
        for i, example in enumerate(examples[: cfg.report_examples]):
            row = {"test_set": name, "id": example["id"], "source": example.get("source") or example.get("context"), "reference": references[i], "hypothesis": hypotheses[i]}
            if loaded.kind == "dialogue":
                row["samples"] = per_context[i]
            samples.append(row)
    primary = metrics[next(iter(test_sets))]
    metrics.update({k: primary[k] for k in primary if k not in ("examples", "chrf_signature")})
    metrics.update(perplexity(loaded, processed / "test.npz", cfg.batch_tokens))
    metrics["ppl_kind"] = loaded.behaviour.ppl_kind
    metrics["decoding"] = {"beam": cfg.beam, "length_penalty": cfg.length_penalty, "vae_z": loaded.behaviour.decoding_note()}
    return metrics, samples


def evaluate_model(task: str, family: str, params: dict, root: Path = Path(".")) -> dict[str, Any]:
    """The evaluate stage's work: score models/<task>-<family> on its task's test sets, write
    metrics/<task>-<family>.json and reports/samples/<task>-<family>.jsonl; returns the metrics."""
    from seqgen.config import from_mapping, section, task_section, task_spec
    from seqgen.io import write_json_atomic, write_jsonl_atomic
    from seqgen.models.store import load_model_dir

    cfg = from_mapping(EvaluateConfig, task_section(params, task, "evaluate"), f"tasks.{task}.evaluate")
    torch.set_num_threads(section(params, "train.run.threads"))
    name = f"{task}-{family}"
    loaded = load_model_dir(root / "models" / name)
    metrics, samples = evaluate(loaded, root / "data/interim" / task, root / "data/processed" / task, cfg, test_sets=task_spec(params, task).test_sets,
                                target_lang=params["tasks"][task].get("data", {}).get("target_lang"))
    write_json_atomic(root / "metrics" / f"{name}.json", metrics)
    write_jsonl_atomic(root / "reports/samples" / f"{name}.jsonl", samples)
    return metrics
