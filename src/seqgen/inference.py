"""Text in, text out: one trained model answering user input. Shared by the MLflow pyfunc, the REST
server behind it and the CLI (`seqgen translate`, `seqgen chat`).

Input rules (the same everywhere, so every entry point gives the same clear errors):
- a list of strings, at most MAX_BATCH of them; each a non-empty string after normalisation;
- a string longer than MAX_INPUT_CHARS characters is rejected (not truncated): nothing that long is a
  sentence or a dialogue turn, and bounding it bounds the memory a request can take;
- a string longer than the model's max_len tokens is truncated to its last max_len tokens, as in
  training, with a warning;
- dialogue: the context turns of one input are joined with TURN_SEPARATOR, oldest first, e.g.
  "Hi, how are you? __eou__ Fine, thanks. And you?"; only the model's last turns are used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Any, Sequence

from seqgen.text import CONTROL_CHARS, normalize

log = logging.getLogger(__name__)

TURN_SEPARATOR = "__eou__"  # DailyDialog's own end-of-utterance mark
MAX_INPUT_CHARS = 5000
MAX_BATCH = 1000
DECODING_FILE = "decoding.json"  # beside the model files: how the registered model decodes


class InputError(ValueError):
    """Bad user input (a client error): the message says which item and what is wrong."""


def check_inputs(texts: Any) -> list[str]:
    """The validated, normalised list of inputs, or InputError naming the first bad item."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputError(f"expected a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise InputError("expected at least one input string, got an empty list")
    if len(texts) > MAX_BATCH:
        raise InputError(f"at most {MAX_BATCH} inputs per call, got {len(texts)}")
    clean = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"input {i}: expected a string, got {type(text).__name__}")
        if len(text) > MAX_INPUT_CHARS:
            raise InputError(f"input {i}: {len(text)} characters, more than the limit of {MAX_INPUT_CHARS}")
        text = CONTROL_CHARS.sub(" ", normalize(text)).strip()
        if not text or not re.sub(TURN_SEPARATOR, "", text).strip():
            raise InputError(f"input {i}: empty string")
        clean.append(text)
    return clean


def split_turns(text: str) -> list[str]:
    return [turn.strip() for turn in text.split(TURN_SEPARATOR) if turn.strip()]


@dataclasses.dataclass
class Generator:
    """A model folder (models/<task>-<family>/ or a registered model's copy) ready to answer."""

    model_dir: Path
    threads: int = 0  # 0: leave torch's default

    def __post_init__(self) -> None:
        import torch

        from seqgen.data.tokenization import Tokenizer
        from seqgen.evaluation.evaluate import EvaluateConfig
        from seqgen.models.store import load_model_dir

        if self.threads:
            torch.set_num_threads(self.threads)
        self.loaded = load_model_dir(Path(self.model_dir))
        self.tokenizer = Tokenizer(self.loaded.tokenizer_path)
        decoding_file = Path(self.model_dir) / DECODING_FILE
        settings = json.loads(decoding_file.read_text(encoding="utf-8")) if decoding_file.is_file() else {}
        defaults = {"beam": 5, "length_penalty": 0.6, "batch_tokens": 3000, "samples": 0, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
                    "max_contexts": 0, "report_examples": 0, "seed": 1234, "max_output_tokens": 128}
        self.decoding = EvaluateConfig(**{**defaults, **settings})

    @property
    def task(self) -> str:
        return self.loaded.task

    def encode(self, texts: list[str]) -> list[list[int]]:
        max_len = self.loaded.seq2seq.cfg.max_len
        if self.loaded.kind == "dialogue":
            ids = self.tokenizer.encode_context([split_turns(t) for t in texts])
        else:
            ids = self.tokenizer.encode(texts)
        for i, seq in enumerate(ids):
            if len(seq) > max_len:
                log.warning("input %d: %d tokens, truncated to the last %d (the model's max_len)", i, len(seq), max_len)
        return [seq[-max_len:] for seq in ids]

    def __call__(self, texts: Any) -> list[str]:
        """Translations (or responses), one per input, in input order."""
        from seqgen.evaluation.evaluate import decode

        clean = check_inputs(texts)
        ids = decode(self.loaded, self.encode(clean), self.decoding, beam=self.decoding.beam)
        return self.tokenizer.decode(ids)
