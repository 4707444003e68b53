"""Peer benchmark: the JoeyNMT toolkit (PyPI joeynmt 2.3.0) trained for a fixed wall-clock budget on the same
Multi30k en->de data, SentencePiece model and model size as ours, then scored on test_2016_flickr with the
same sacreBLEU call as our evaluation (seqgen.evaluation.metrics: corpus BLEU, 13a, cased; chrF).

JoeyNMT lives in its own virtualenv, bench/.venv-joeynmt, never in the project's. It is created on the first
run (or again with --setup): torch==2.13.0 (the CPU wheel), `joeynmt==2.3.0 --no-deps` (its metadata pins
protobuf<3.21 and pulls pylint, pytest, datasets, ...; none of that is needed to train or translate) and the
packages it imports at run time (PEER_PACKAGES below). Everything else goes to bench/out/joeynmt/:
data/ (plain-text splits and the vocabulary), config.yaml, test.yaml, model/ (train.log, checkpoints).

Needs the project's data (`dvc repro tokenize@translation`). Run:
    . scripts/env.sh && python bench/peer_joeynmt.py [--minutes 30] [--beam 5] [--max-output-length 128] [--setup]
Smoke test (end to end in about 3 minutes; BLEU near 0):
    . scripts/env.sh && python bench/peer_joeynmt.py --minutes 2 --beam 1 --max-output-length 20

What it does:
  1. writes train/dev/test.{en,de} from data/interim/translation/*.jsonl and a vocabulary file holding every
     piece of data/processed/translation/spm.model (one joint 8k vocabulary for both sides, tied embeddings);
  2. runs `python -m joeynmt train config.yaml --skip-test` (CPU, 2 threads, our glibc malloc settings) and
     sends it SIGINT when the budget is spent: JoeyNMT catches it and saves latest.ckpt (SIGTERM, then SIGKILL,
     if it does not exit in time; a periodic validation checkpoint is the fall-back);
  3. runs `python -m joeynmt test test.yaml` with latest.ckpt (the last weights, as our `select_best_by: last`)
     on test_2016_flickr, beam 5 and GNMT length penalty 0.6 like ours; JoeyNMT decodes the pieces back to text
     with the same SentencePiece model;
  4. scores the output against the raw references with seqgen.evaluation.metrics.corpus_bleu / corpus_chrf.

Throughput = target tokens trained on / training seconds. Target tokens: JoeyNMT's own counter
(stats_state.total_tokens in the checkpoint: non-pad target positions incl. </s>, the same definition as
our Batch.target_tokens). Training seconds: from train.log's "EPOCH 1" line to its "Interrupt" line
(model building and data loading before it are excluded, like bench_train.py's warm-up), minus the time of
the validation passes (the "Generation took" and "Evaluation result ... [sec]" lines).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header  # noqa: E402

VENV = PROJECT_ROOT / "bench" / ".venv-joeynmt"
PEER_PYTHON = VENV / "bin" / "python"
OUT = PROJECT_ROOT / "bench" / "out" / "joeynmt"
DATA = OUT / "data"
MODEL_DIR = OUT / "model"
INTERIM = PROJECT_ROOT / "data" / "interim" / "translation"
SPM_MODEL = PROJECT_ROOT / "data" / "processed" / "translation" / "spm.model"
SPLITS = {"train": "train", "dev": "valid", "test": "test"}  # JoeyNMT's name -> our jsonl (test = test_2016_flickr)
THREADS = 2

# The versions that installed and ran together here (Python 3.11, 2026-11). joeynmt goes in with --no-deps.
TORCH = "torch==2.13.0"  # the pin selects the CPU wheel; unpinned, pip pulls a multi-GB CUDA build
JOEYNMT = "joeynmt==2.3.0"
PEER_PACKAGES = [
    "sentencepiece==0.2.0", "importlib_metadata==10.2.0", "numpy==2.4.6", "PyYAML==6.0.4", "subword-nmt==0.3.8",
    "sacrebleu==2.6.0", "matplotlib==3.11.2", "tensorboard==2.21.0", "tqdm==4.70.1", "packaging==26.4",
]

STOP_GRACE_S = 120  # after SIGINT: time for JoeyNMT to finish its step and write latest.ckpt


# ---- the peer's virtualenv ------------------------------------------------------------------------------
def peer_ready() -> bool:
    return PEER_PYTHON.exists() and subprocess.run(
        [str(PEER_PYTHON), "-c", "import joeynmt.training, joeynmt.prediction"], capture_output=True).returncode == 0


def setup_venv() -> None:
    print(f"creating {VENV.relative_to(PROJECT_ROOT)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(PEER_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "--no-deps", JOEYNMT], check=True)
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    if not peer_ready():
        sys.exit("joeynmt does not import in the new virtualenv")


def peer_versions() -> str:
    code = "import joeynmt, torch, sentencepiece; print(joeynmt.__version__, torch.__version__, sentencepiece.__version__)"
    joey, torch_v, spm_v = subprocess.run([str(PEER_PYTHON), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return f"joeynmt {joey}, torch {torch_v}, sentencepiece {spm_v}"


# ---- data, vocabulary and configs -----------------------------------------------------------------------
def one_line(text: str) -> bool:
    """JoeyNMT reads its files with str.splitlines(), which also breaks at \\x1c-\\x1e, \\x85, U+2028/9."""
    return len(text.splitlines()) == 1 and text.strip() == text and text != ""


def write_data() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for joey_name, ours in SPLITS.items():
        rows = [json.loads(line) for line in (INTERIM / f"{ours}.jsonl").read_text(encoding="utf-8").splitlines() if line]
        for lang, field in (("en", "source"), ("de", "target")):
            texts = [row[field] for row in rows]
            bad = [t for t in texts if not one_line(t)]
            if bad:
                sys.exit(f"{ours}.jsonl: {len(bad)} {field}s would not survive a plain-text file, e.g. {bad[0]!r}")
            (DATA / f"{joey_name}.{lang}").write_text("\n".join(texts) + "\n", encoding="utf-8")


def write_vocab() -> int:
    """Every piece of our SentencePiece model, in id order; JoeyNMT puts its own <unk> <pad> <s> </s> first
    (ids 0-3) and skips them here, so the vocabulary is the same 8,000 pieces with other ids."""
    code = ("import sentencepiece as s, sys; m = s.SentencePieceProcessor(model_file=sys.argv[1]); "
            "print('\\n'.join(m.id_to_piece(i) for i in range(m.get_piece_size())))")
    pieces = subprocess.run([str(PEER_PYTHON), "-c", code, str(SPM_MODEL)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert all(one_line(p) for p in pieces), "a piece would break the vocabulary file"
    (DATA / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return len(pieces)


def side(lang: str) -> dict:
    return {"lang": lang, "level": "bpe", "lowercase": False, "normalize": False, "max_length": 128, "min_length": 1,
            "voc_file": str(DATA / "vocab.txt"), "tokenizer_type": "sentencepiece",
            "tokenizer_cfg": {"model_file": str(SPM_MODEL)}}


def transformer(layers: int) -> dict:
    return {"type": "transformer", "num_layers": layers, "num_heads": 4, "hidden_size": 256, "ff_size": 1024,
            "dropout": 0.1, "layer_norm": "pre",  # ours is pre-LN too
            "embeddings": {"embedding_dim": 256, "scale": True, "dropout": 0.1}}


def train_config(beam: int, max_output: int) -> dict:
    return {
        "name": "multi30k-ende-joeynmt",
        "joeynmt_version": "2.3.0",
        "model_dir": str(MODEL_DIR),
        "use_cuda": False,
        "fp16": False,  # JoeyNMT has no bf16 on CPU (ours trains in bf16 autocast where the CPU has it)
        "random_seed": 1234,
        "data": {"train": str(DATA / "train"), "dev": str(DATA / "dev"), "test": str(DATA / "test"),
                 "dataset_type": "plain", "src": side("en"), "trg": side("de"),
                 "sample_dev_subset": 200},  # the periodic validation is there for its checkpoint: keep it cheap
        "training": {
            "optimizer": "adamw", "adam_betas": [0.9, 0.98], "weight_decay": 0.01, "clip_grad_norm": 1.0,
            "learning_rate": 0.001, "learning_rate_min": 1.0e-6, "learning_rate_warmup": 150,
            "scheduling": "warmupinversesquareroot",  # linear warm-up to 1e-3 over 150 steps, as ours (then 1/sqrt)
            "loss": "crossentropy", "label_smoothing": 0.1, "normalization": "tokens",
            "batch_size": 6000, "batch_type": "token",  # padded tokens per batch, as our batch_tokens
            "batch_multiplier": 1, "epochs": 10_000, "shuffle": True,
            "logging_freq": 5, "validation_freq": 250, "keep_best_ckpts": 2, "early_stopping_metric": "ppl",
            "eval_metrics": ["bleu"], "print_valid_sents": [0], "overwrite": True, "num_workers": 0,
        },
        "testing": {"beam_size": beam, "beam_alpha": 0.6 if beam > 1 else -1, "n_best": 1,
                    "batch_size": 3000, "batch_type": "token", "max_output_length": max_output, "min_output_length": 1,
                    "eval_metrics": ["bleu"], "sacrebleu_cfg": {"tokenize": "13a"}},
        "model": {"initializer": "xavier_uniform", "bias_initializer": "zeros", "embed_initializer": "xavier_uniform",
                  "tied_embeddings": True, "tied_softmax": True,
                  "encoder": transformer(3), "decoder": transformer(3)},
    }


def test_config(train_cfg: dict, checkpoint: Path) -> dict:
    """Only the test split (no dev decoding), from the given checkpoint."""
    cfg = json.loads(json.dumps(train_cfg))
    for split in ("train", "dev"):
        cfg["data"].pop(split)
    cfg["data"].pop("sample_dev_subset")
    cfg["testing"]["load_model"] = str(checkpoint)
    return cfg


def write_config(path: Path, cfg: dict) -> None:
    """YAML written by the peer's own PyYAML (plain JSON would do, but PyYAML reads 1e-06 as a string)."""
    code = "import json, sys, yaml; yaml.safe_dump(json.load(sys.stdin), open(sys.argv[1], 'w'), sort_keys=False)"
    subprocess.run([str(PEER_PYTHON), "-c", code, str(path)], input=json.dumps(cfg), text=True, check=True)


# ---- running the peer -----------------------------------------------------------------------------------
def malloc_settings() -> dict[str, str]:
    """The glibc malloc variables exactly as scripts/env.sh exports them."""
    text = (PROJECT_ROOT / "scripts" / "env.sh").read_text()
    settings = dict(re.findall(r"\b(MALLOC_[A-Z_]+_)=(\S+)", text))
    assert len(settings) == 3, settings
    return settings


def peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(malloc_settings(), OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS),
               PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(VENV))
    return env


def stop(proc: subprocess.Popen) -> str:
    """SIGINT (JoeyNMT saves a checkpoint on KeyboardInterrupt), then SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            return signal.Signals(sig).name
        except subprocess.TimeoutExpired:
            continue
    return "none (exited by itself)"


def train(config: Path, minutes: float) -> tuple[float, str]:
    """Runs JoeyNMT training for `minutes` of wall time; returns (wall seconds, the signal that stopped it)."""
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT / "train.stdout", "w") as log:
        started = time.monotonic()
        proc = subprocess.Popen([str(PEER_PYTHON), "-m", "joeynmt", "train", str(config), "--skip-test"],
                                cwd=OUT, env=peer_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=minutes * 60)
            how = f"exited by itself (rc {proc.returncode}) before the budget"
        except subprocess.TimeoutExpired:
            how = stop(proc)
        except BaseException:
            proc.kill()
            raise
    return time.monotonic() - started, how


def translate(cfg: dict) -> list[str]:
    checkpoint = MODEL_DIR / "latest.ckpt"
    if not checkpoint.exists():
        sys.exit(f"no checkpoint in {MODEL_DIR}: see {OUT / 'train.stdout'}")
    write_config(OUT / "test.yaml", test_config(cfg, checkpoint.resolve()))
    prefix = OUT / "hyps"
    with open(OUT / "test.stdout", "w") as log:
        subprocess.run([str(PEER_PYTHON), "-m", "joeynmt", "test", str(OUT / "test.yaml"), "--output-path", str(prefix)],
                       cwd=OUT, env=peer_env(), stdout=log, stderr=subprocess.STDOUT, check=True)
    return (OUT / "hyps.test").read_text(encoding="utf-8").split("\n")[:-1]


# ---- reading JoeyNMT's log and checkpoint ---------------------------------------------------------------
def log_time(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def training_seconds(log: Path) -> tuple[float, float]:
    """(training seconds, validation seconds) from train.log, as the module docstring says."""
    first = last = None
    validation = 0.0
    for line in log.read_text(encoding="utf-8").splitlines():
        if first is None and line[23:].endswith(" - EPOCH 1"):
            first = log_time(line)
        elif " - Interrupt at epoch" in line or " Step: " in line:
            last = log_time(line)  # the interrupt; without one (killed), the last progress line
        if m := re.search(r"Generation took ([\d.]+)\[sec\]|Evaluation result \(greedy\).*, ([\d.]+)\[sec\]", line):
            validation += float(m.group(1) or m.group(2))
    if first is None or last is None:
        sys.exit(f"no training steps in {log}")
    return last - first - validation, validation


def checkpoint_stats(checkpoint: Path) -> dict:
    code = ("import torch, sys, json; s = torch.load(sys.argv[1], map_location='cpu', weights_only=True)['stats_state']; "
            "print(json.dumps({k: s[k] for k in ('steps', 'total_tokens', 'epochs')}))")
    return json.loads(subprocess.run([str(PEER_PYTHON), "-c", code, str(checkpoint)], capture_output=True, text=True,
                                     check=True).stdout)


def parameters() -> str:
    m = re.search(r"Total params: (\d+)", (MODEL_DIR / "train.log").read_text(encoding="utf-8"))
    return f"{int(m.group(1)) / 1e6:.1f}M parameters" if m else "parameters: not logged"


# ---- scoring ----------------------------------------------------------------------------------------------
def score(hypotheses: list[str]) -> tuple[tuple[float, str], tuple[float, str]]:
    from seqgen.evaluation.metrics import corpus_bleu, corpus_chrf  # the project's own call

    references = [json.loads(line)["target"] for line in (INTERIM / "test.jsonl").read_text(encoding="utf-8").splitlines() if line]
    assert len(hypotheses) == len(references), (len(hypotheses), len(references))
    return corpus_bleu(hypotheses, references), corpus_chrf(hypotheses, references)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30, help="wall-clock training budget (default 30)")
    parser.add_argument("--beam", type=int, default=5, help="beam size for test_2016_flickr (1: greedy)")
    parser.add_argument("--max-output-length", type=int, default=128,
                        help="cap on generated pieces (ours: 128); JoeyNMT re-runs the whole decoder every step, so a barely "
                             "trained model that never says </s> decodes slowly: use e.g. 20 for smoke tests")
    parser.add_argument("--setup", action="store_true", help="(re)create bench/.venv-joeynmt first")
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)
    header(" ".join(["python bench/peer_joeynmt.py", *sys.argv[1:]]))
    if args.setup or not peer_ready():
        setup_venv()
    malloc = " ".join(f"{k}={v}" for k, v in malloc_settings().items())
    print(f"peer: {peer_versions()} in {VENV.relative_to(PROJECT_ROOT)}; CPU, {THREADS} threads, fp32; {malloc}")

    write_data()
    vocab = write_vocab()
    cfg = train_config(args.beam, args.max_output_length)
    write_config(OUT / "config.yaml", cfg)
    print(f"data: {', '.join(f'{k}={v}.jsonl' for k, v in SPLITS.items())} -> {DATA.relative_to(PROJECT_ROOT)}; "
          f"joint vocabulary {vocab} pieces of {SPM_MODEL.relative_to(PROJECT_ROOT)}, tied embeddings")

    wall, how = train(OUT / "config.yaml", args.minutes)
    stats = checkpoint_stats(MODEL_DIR / "latest.ckpt")
    seconds, validation = training_seconds(MODEL_DIR / "train.log")
    print(f"model: 3+3 layers, d_model 256, 4 heads, ffn 1024, pre-LN, {parameters()}; batches of 6000 padded tokens")
    print(f"training: {wall / 60:.1f} min wall (budget {args.minutes:g}), stopped by {how}; {stats['steps']} steps, "
          f"epoch {stats['epochs']}, {stats['total_tokens']} target tokens; {seconds:.0f} s of steps "
          f"(train.log 'EPOCH 1' to the interrupt, less {validation:.0f} s of validation)")
    print(f"THROUGHPUT: {stats['total_tokens'] / seconds:.0f} target tokens/s  ({stats['total_tokens'] / stats['steps']:.0f} per step)")

    started = time.monotonic()
    hypotheses = translate(cfg)
    decoding = (f"beam {args.beam}, length penalty 0.6" if args.beam > 1 else "greedy") + f", at most {args.max_output_length} pieces"
    (bleu, bleu_sig), (chrf, chrf_sig) = score(hypotheses)
    print(f"test_2016_flickr ({len(hypotheses)} sentences, {decoding}, checkpoint latest.ckpt = step {stats['steps']}; "
          f"{time.monotonic() - started:.0f} s incl. loading):")
    print(f"BLEU: {bleu:.2f}  ({bleu_sig})")
    print(f"chrF: {chrf:.2f}  ({chrf_sig})")
    print(f"outputs: {(OUT / 'hyps.test').relative_to(PROJECT_ROOT)}; logs: {MODEL_DIR.relative_to(PROJECT_ROOT)}/train.log, test.log")


if __name__ == "__main__":
    main()
