"""Benchmark: training throughput (target tokens/s) of the default translation model, beside this machine's
matmul ceiling measured in the same run, and the fraction of it the trainer reaches.

Needs the tokenized data: `dvc repro tokenize@translation` first. Run:
    . scripts/env.sh && python bench/bench_train.py [--steps 60] [--precision fp32] [--profile 6]
(scripts/env.sh sets the glibc malloc settings; the benchmark prints whether they are active.)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header  # noqa: E402

WINDOW_STEPS = 10  # training steps between two probes of the matmul ceiling


def matmul_gflops(dtype: torch.dtype, m: int, k: int, n: int, seconds: float = 2.0) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    for _ in range(3):
        a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - started) / 1e9


def ceiling(dtype: torch.dtype) -> float:
    """The matmul ceiling: the better of a square and a Transformer-shaped product (4096 tokens x 256 x 1024)."""
    return max(matmul_gflops(dtype, 2048, 2048, 2048, seconds=1.0), matmul_gflops(dtype, 4096, 256, 1024, seconds=1.0))


def training_flops_per_target_token(cfg, src_per_tgt: float, mean_src: float, mean_tgt: float) -> float:
    """Forward+backward FLOPs (3x forward) per target token, from the model's shapes."""
    d, f, v = cfg.d_model, cfg.ffn, cfg.vocab_size
    encoder_layer = 4 * d * d + 2 * d * f  # qkv + out projections, FFN: multiply-adds per token
    decoder_layer = 4 * d * d + 4 * d * d + 2 * d * f  # self-attention, cross-attention, FFN
    attention = 2 * d * (cfg.encoder_layers * mean_src * src_per_tgt + cfg.decoder_layers * (mean_tgt + mean_src))  # QK^T and AV
    per_target = cfg.encoder_layers * encoder_layer * src_per_tgt + cfg.decoder_layers * decoder_layer + d * v + attention
    return 6 * per_target  # 2 FLOPs per multiply-add, x3 for forward + backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60, help="timed training steps, in windows of 10 (after 5 warm-up steps)")
    parser.add_argument("--task", default="translation")
    parser.add_argument("--batch-tokens", type=int, help="override train.<task>.mle.trainer.batch_tokens")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="override train.run.precision (fp32 on a bf16 "
                        "machine, with bench/bench_pipeline.py's --emulate-avx2 variables, approximates the AVX2 kind)")
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS",
                        help="after the timed windows, run STEPS more steps under torch.profiler and print the operators "
                        "that took the most time, by input shape (where the step goes outside the matmuls)")
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)
    header(" ".join(["python bench/bench_train.py", *sys.argv[1:]]))
    malloc = all(os.environ.get(k) for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"))
    print(f"glibc malloc settings from scripts/env.sh: {'on' if malloc else 'OFF'}; torch {torch.__version__}")

    from seqgen.config import load_params
    from seqgen.training.job import build_job
    from seqgen.training.trainer import Trainer

    params = load_params()
    trainer_params = params["tasks"][args.task]["train"]["mle"]["trainer"]
    trainer_params.update(steps=10**6, eval_every=10**9)  # the schedule is irrelevant here; no validation
    if args.batch_tokens:
        trainer_params["batch_tokens"] = args.batch_tokens
    if args.precision:
        params["train"]["run"]["precision"] = args.precision
    job, model_cfg, _, _ = build_job(args.task, "mle", params)
    job.checkpoint_dir = Path("/nonexistent/bench")  # never resume or write a checkpoint
    job.metrics_path = None
    trainer = Trainer(job)
    torch.set_num_threads(params["train"]["run"]["threads"])
    precision = "bf16" if trainer.bf16 else "fp32"
    dtype = torch.bfloat16 if trainer.bf16 else torch.float32
    fp32_ceiling = ceiling(torch.float32)
    print(f"matmul ceiling, {torch.get_num_threads()} threads: fp32 {fp32_ceiling:.0f} GFLOP/s (bf16: probed between windows below)")

    for _ in range(5):
        trainer.train_step(next(trainer.stream))
    # The machine is shared and its speed drifts by several percent within a minute, so the ceiling is probed
    # before every window of steps and each window's rate is set against its own probe.
    windows = []  # (ceiling GFLOP/s, achieved GFLOP/s)
    src_tokens = tgt_tokens = sentences = 0
    elapsed = user = system = 0.0
    for _ in range(max(1, args.steps // WINDOW_STEPS)):
        probe = ceiling(dtype)
        counts, started, before = [0, 0, 0], time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)  # source, target tokens, sentences
        for _ in range(WINDOW_STEPS):
            batch = next(trainer.stream)
            trainer.train_step(batch)
            counts[0] += int((batch.src != 0).sum())
            counts[1] += batch.target_tokens
            counts[2] += batch.size
        seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
        src, tgt, n = counts
        windows.append((probe, tgt / seconds * training_flops_per_target_token(model_cfg, src / tgt, src / n, tgt / n) / 1e9))
        src_tokens, tgt_tokens, sentences = src_tokens + src, tgt_tokens + tgt, sentences + n
        elapsed += seconds
        user, system = user + after.ru_utime - before.ru_utime, system + after.ru_stime - before.ru_stime
    steps = len(windows) * WINDOW_STEPS

    flops = training_flops_per_target_token(model_cfg, src_tokens / tgt_tokens, src_tokens / sentences, tgt_tokens / sentences)
    rate = tgt_tokens / elapsed
    achieved = rate * flops / 1e9
    fractions = sorted(gflops / probe for probe, gflops in windows)
    probes = sorted(probe for probe, _ in windows)
    params_m = sum(p.numel() for p in trainer.model.parameters()) / 1e6
    print(f"model: {model_cfg.encoder_layers}+{model_cfg.decoder_layers} layers, d_model {model_cfg.d_model}, {model_cfg.heads} heads, "
          f"ffn {model_cfg.ffn}, vocab {model_cfg.vocab_size}, {params_m:.1f}M parameters; precision {precision}")
    print(f"batches: {steps} steps in {len(windows)} windows, {tgt_tokens / steps:.0f} target tokens per step (batch_tokens {job.cfg.batch_tokens})")
    print(f"training FLOPs per target token (from shapes): {flops / 1e6:.1f} MFLOP")
    print(f"{precision} matmul ceiling per window: median {statistics.median(probes):.0f} GFLOP/s (range {probes[0]:.0f}-{probes[-1]:.0f})")
    print(f"per-window fraction of the ceiling: {', '.join(f'{f:.0%}' for f in fractions)}")
    print(f"THROUGHPUT: {rate:.0f} target tokens/s  ({achieved:.0f} GFLOP/s = {achieved / statistics.median(probes):.0%} of the median "
          f"{precision} ceiling; median window {statistics.median(fractions):.0%})")
    print(f"CPU time of the training steps: user {user:.1f} s, sys {system:.1f} s over {elapsed:.1f} s wall")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.profile:
        profile_steps(trainer, args.profile)


def profile_steps(trainer, steps: int) -> None:
    """Print where `steps` training steps spend their time: per operator, then per operator and input shape."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        started = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(next(trainer.stream))
        seconds = time.perf_counter() - started
    print(f"profile: {steps} steps, {seconds / steps:.2f} s a step under the profiler")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=30,
                                                             max_shapes_column_width=60))


if __name__ == "__main__":
    main()
