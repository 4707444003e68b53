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

Output: for each input, a list of `num_outputs` strings (beam search: its n best, best first; sampling: that many
draws, in draw order), detokenised as a person writes ("Yes." where DailyDialog's tokenised text says "Yes .").
How to decode are the request's params (PARAMS, the MLflow ParamSchema of a registered model); a param the
request leaves out takes the model's default (serving.json beside the model, from params.yaml
tasks.<task>.serve), so every entry point answers one request alike. Sampling is seeded (`seed`): the same
request gives the same outputs in every entry point.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any, Sequence

from seqgen.evaluation.evaluate import Decoding as Request  # noqa: F401 (the params of a request)
from seqgen.text import CONTROL_CHARS, normalize

log = logging.getLogger(__name__)

TURN_SEPARATOR = "__eou__"  # DailyDialog's own end-of-utterance mark
MAX_INPUT_CHARS = 5000
MAX_BATCH = 1000
DECODING_FILE = "decoding.json"  # beside the model files: the evaluate stage's decoding, which its metrics measured
SERVING_FILE = "serving.json"  # beside the model files: the default params of a request (tasks.<task>.serve)
ENGINE_FILE = "engine.json"  # beside the model files of a version converted to CTranslate2 (seqgen.ctranslate)
MAX_OUTPUTS = 20  # num_outputs cap; also inputs x num_outputs <= MAX_BATCH, which bounds a request's time and memory
STRATEGIES = ("beam", "greedy", "sample")
LATENTS = ("mean", "sample")


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


# name -> (MLflow param type, check, what a valid value is): the ParamSchema and the client errors come from here.
PARAMS: dict[str, tuple[str, Any, str]] = {
    "num_outputs": ("long", lambda v: 1 <= v <= MAX_OUTPUTS, f"an integer from 1 to {MAX_OUTPUTS}"),
    "strategy": ("string", lambda v: v in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
    "beam": ("long", lambda v: 1 <= v <= 16, "an integer from 1 to 16"),
    "temperature": ("double", lambda v: 0 < v <= 10, "a number above 0, at most 10"),
    "top_k": ("long", lambda v: 0 <= v <= 100_000, "an integer >= 0 (0: all tokens)"),
    "top_p": ("double", lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "latent": ("string", lambda v: v in LATENTS, f"one of {', '.join(LATENTS)}"),
    "prior_scale": ("double", lambda v: 0 < v <= 10, "a number above 0, at most 10"),
    "seed": ("long", lambda v: 0 <= v < 2**63, "an integer >= 0"),
}
_TYPES = {"long": (int,), "double": (int, float), "string": (str,)}


def check_request(params: Any, defaults: Request | None = None) -> Request:
    """The request that `params` (a mapping of PARAMS names; missing ones take `defaults`) describe, or InputError
    naming the first unknown or invalid param."""
    defaults = defaults or Request()
    if params is None:
        return defaults
    if not isinstance(params, dict):
        raise InputError(f"params: expected a mapping of names to values, got {type(params).__name__}")
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InputError(f"unknown param {unknown[0]!r}; the params are {', '.join(PARAMS)}")
    values = {}
    for name, value in params.items():
        kind, valid, expected = PARAMS[name]
        if hasattr(value, "item"):  # numpy scalars, as MLflow hands them over
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, _TYPES[kind]) or not valid(value):
            raise InputError(f"param {name}: expected {expected}, got {value!r}")
        values[name] = float(value) if kind == "double" else value
    return dataclasses.replace(defaults, **values)


def read_defaults(spec: dict[str, Any], family: str, beam: int, where: str) -> Request:
    """tasks.<task>.serve -> the Request a registered <task>-<family> answers with when a request names no params:
    its keys, with `families.<family>` overriding them for that family; the beam size is the evaluate stage's
    (`beam`) unless the section names one."""
    from seqgen.errors import ConfigError

    spec = dict(spec)
    override = (spec.pop("families", None) or {}).get(family, {})
    try:
        return check_request({**spec, **override}, Request(beam=beam))
    except InputError as err:
        raise ConfigError(f"{where}: {str(err).replace('param ', '')}") from None


_SPACE_BEFORE = re.compile(r" +([.,!?;:%)\]}。]|'(?:s|t|m|ll|re|ve|d)\b|n't\b)")
_APOSTROPHE = re.compile(r"(\w) ?[’'] ?(s|t|m|ll|re|ve|d|clock)\b")
_SPACE_AFTER = re.compile(r"([(\[{$]) +")


def detokenize(text: str) -> str:
    """English as a person writes it, from DailyDialog's tokenised spacing: "I ’ m sorry ." -> "I'm sorry."."""
    text = _APOSTROPHE.sub(r"\1'\2", text)
    text = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))
    return text.replace("。", ".").strip()


@dataclasses.dataclass
class Generator:
    """A model folder (models/<task>-<family>/ or a registered model's copy) ready to answer. A registered version
    whose engine is CTranslate2 (engine.json beside its files, tasks.<task>.engine) decodes beam and greedy requests
    with its converted weights; sampling, and every request of a folder without one, use our decoder."""

    model_dir: Path
    threads: int = 0  # 0: leave torch's default
    engine: str = "auto"  # auto: the folder's engine.json (our decoder without one); torch: always our decoder

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
        serving_file = Path(self.model_dir) / SERVING_FILE
        serving = json.loads(serving_file.read_text(encoding="utf-8")) if serving_file.is_file() else {}
        self.defaults = check_request(serving, Request(beam=self.decoding.beam))
        self.ctranslate2 = self._load_engine()
        self._lock = threading.Lock()  # a request seeds torch's generator: one decodes at a time

    def _load_engine(self):
        engine_file = Path(self.model_dir) / ENGINE_FILE
        if self.engine == "torch" or not engine_file.is_file():
            return None
        from seqgen.ctranslate import CONVERTED_DIR, Engine

        spec = json.loads(engine_file.read_text(encoding="utf-8"))
        return Engine(Path(self.model_dir) / CONVERTED_DIR, spec["compute_type"], self.threads)

    @property
    def engine_name(self) -> str:
        """What decodes beam and greedy requests: "ctranslate2 int8", ..., or "torch"."""
        return f"ctranslate2 {self.ctranslate2.compute_type}" if self.ctranslate2 else "torch"

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

    def __call__(self, texts: Any, params: Any = None) -> list[list[str]]:
        """For each input, in input order, its num_outputs translations (or responses)."""
        import torch

        from seqgen.evaluation.evaluate import decode_outputs

        request = check_request(params, self.defaults)
        clean = check_inputs(texts)
        if len(clean) * request.num_outputs > MAX_BATCH:
            raise InputError(f"{len(clean)} inputs x num_outputs {request.num_outputs} is more than {MAX_BATCH} outputs per call")
        with self._lock:
            if self.ctranslate2 is not None and self.ctranslate2.serves(request):
                ids = self.ctranslate2.decode(self.encode(clean), request, self.decoding.max_output_tokens, self.decoding.length_penalty,
                                              self.decoding.batch_tokens)
            else:
                torch.manual_seed(request.seed)
                ids = decode_outputs(self.loaded, self.encode(clean), self.decoding, request)
        readable = detokenize if self.loaded.kind == "dialogue" else str.strip
        return [[readable(text) for text in self.tokenizer.decode(group)] for group in ids]
