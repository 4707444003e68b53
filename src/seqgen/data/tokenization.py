"""SentencePiece tokenizer (trained on train only) and the compact encoded splits the trainer loads.

An encoded split is one `.npz` (no pickle) holding flat int32 token arrays plus offsets:
`source_ids[source_offsets[i]:source_offsets[i+1]]` is example i. Dialogue sources are the context turns,
each encoded on its own and joined with the `<sep>` piece, so a turn boundary is never a guess.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from seqgen.errors import ConfigError, DataError
from seqgen.io import atomic_path

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SEP_PIECE = "<sep>"  # separates dialogue context turns


@dataclasses.dataclass(frozen=True)
class TokenizeConfig:
    vocab_size: int  # SentencePiece vocabulary size (joint source+target for translation)
    model_type: str  # "unigram" or "bpe"
    character_coverage: float  # share of characters covered by pieces; the rest fall back to bytes
    num_threads: int  # SentencePiece trainer threads

    def __post_init__(self) -> None:
        if self.model_type not in ("unigram", "bpe"):
            raise ConfigError(f"tokenize.model_type: expected 'unigram' or 'bpe', got {self.model_type!r}")
        if self.vocab_size < 100:
            raise ConfigError(f"tokenize.vocab_size: {self.vocab_size} is too small (>= 100)")


def train_sentencepiece(sentences: Iterable[str], model_path: Path, cfg: TokenizeConfig) -> None:
    """Train a model on `sentences` and write it atomically to `model_path`."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buffer,
        vocab_size=cfg.vocab_size,
        model_type=cfg.model_type,
        character_coverage=cfg.character_coverage,
        num_threads=cfg.num_threads,
        # Ingest already normalised the text (NFC, whitespace); SentencePiece's own NFKC would make
        # decode(encode(x)) differ from x, so it is switched off. Bytes cover characters outside the vocab.
        normalization_rule_name="identity",
        byte_fallback=True,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        user_defined_symbols=[SEP_PIECE],
        input_sentence_size=0,  # use every sentence: the corpora are small
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    with atomic_path(model_path) as tmp:
        tmp.write_bytes(buffer.getvalue())


class Tokenizer:
    """Thin wrapper over a SentencePiece model with the project's special ids."""

    def __init__(self, model_path: Path):
        import sentencepiece as spm

        if not Path(model_path).is_file():
            raise DataError(f"{model_path}: tokenizer model not found (did the tokenize stage run?)")
        self.processor = spm.SentencePieceProcessor(model_file=str(model_path))
        self.sep_id = self.processor.piece_to_id(SEP_PIECE)

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.processor.encode(list(texts), out_type=int)

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return self.processor.decode([list(map(int, x)) for x in ids])

    def encode_context(self, contexts: Sequence[Sequence[str]]) -> list[list[int]]:
        """Dialogue contexts: each turn encoded, turns joined with the <sep> id."""
        flat = [turn for context in contexts for turn in context]
        encoded = iter(self.encode(flat))
        out = []
        for context in contexts:
            ids: list[int] = []
            for position in range(len(context)):
                if position:
                    ids.append(self.sep_id)
                ids.extend(next(encoded))
            out.append(ids)
        return out


@dataclasses.dataclass
class EncodedSplit:
    ids: np.ndarray  # example ids (unicode)
    source_ids: np.ndarray
    source_offsets: np.ndarray
    target_ids: np.ndarray
    target_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def source(self, i: int) -> np.ndarray:
        return self.source_ids[self.source_offsets[i] : self.source_offsets[i + 1]]

    def target(self, i: int) -> np.ndarray:
        return self.target_ids[self.target_offsets[i] : self.target_offsets[i + 1]]

    def source_lengths(self) -> np.ndarray:
        return np.diff(self.source_offsets)

    def target_lengths(self) -> np.ndarray:
        return np.diff(self.target_offsets)


def _flatten(sequences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((t for s in sequences for t in s), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def encode_split(tokenizer: Tokenizer, kind: str, examples: list[dict]) -> EncodedSplit:
    if kind == "dialogue":
        sources = tokenizer.encode_context([e["context"] for e in examples])
    else:
        sources = tokenizer.encode([e["source"] for e in examples])
    targets = tokenizer.encode([e["target"] for e in examples])
    source_ids, source_offsets = _flatten(sources)
    target_ids, target_offsets = _flatten(targets)
    ids = np.array([e["id"] for e in examples], dtype=np.str_)
    return EncodedSplit(ids, source_ids, source_offsets, target_ids, target_offsets)


def save_encoded(path: Path, split: EncodedSplit) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **dataclasses.asdict(split))


def load_encoded(path: Path) -> EncodedSplit:
    try:
        with np.load(path, allow_pickle=False) as data:
            return EncodedSplit(**{f.name: data[f.name] for f in dataclasses.fields(EncodedSplit)})
    except FileNotFoundError:
        raise DataError(f"{path}: encoded split not found (did the tokenize stage run?)") from None
    except (KeyError, ValueError) as err:
        raise DataError(f"{path}: not an encoded split ({err})") from None


def training_sentences(kind: str, train: list[dict]) -> list[str]:
    """Text the tokenizer learns from: train only; each distinct sentence or turn once."""
    seen: dict[str, None] = {}
    for e in train:
        for text in (e["context"] if kind == "dialogue" else [e["source"]]):
            seen.setdefault(text, None)
        seen.setdefault(e["target"], None)
    return list(seen)


def require_validated(report_path: Path) -> None:
    """Refuse to tokenize data that did not pass validation (defence beyond DVC's stage order)."""
    import json

    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{report_path}: no validation report; run the validate stage first") from None
    if not report.get("success"):
        raise DataError(f"{report_path}: the data failed validation; fix it before tokenizing")


def tokenize_task(task: str, params: dict, root: Path = Path("."), params_path: Path | None = None) -> dict:
    """The tokenize stage's work: SentencePiece on data/interim/<task>/train, every split encoded to
    data/processed/<task>/<split>.npz, and meta.json (returned)."""
    from seqgen.config import DEFAULT_PARAMS, from_mapping, task_section, task_spec
    from seqgen.console import log
    from seqgen.io import read_jsonl, write_json_atomic

    cfg = from_mapping(TokenizeConfig, task_section(params, task, "tokenize"), f"tasks.{task}.tokenize")
    require_validated(root / "reports/validation" / f"{task}.json")
    interim, out = root / "data/interim" / task, root / "data/processed" / task
    splits = {p.stem: read_jsonl(p) for p in sorted(interim.glob("*.jsonl"))}
    kind = task_spec(params, task, params_path or DEFAULT_PARAMS).kind
    sentences = training_sentences(kind, splits["train"])
    log("tokenize", f"{task}: training SentencePiece ({cfg.model_type}, {cfg.vocab_size}) on {len(sentences)} train sentences")
    train_sentencepiece(sentences, out / "spm.model", cfg)
    tokenizer = Tokenizer(out / "spm.model")
    meta = {"task": task, "vocab_size": tokenizer.vocab_size, "sep_id": tokenizer.sep_id, "splits": {}}
    for name, examples in splits.items():
        encoded = encode_split(tokenizer, kind, examples)
        save_encoded(out / f"{name}.npz", encoded)
        meta["splits"][name] = {
            "examples": len(encoded),
            "source_tokens": int(encoded.source_lengths().sum()),
            "target_tokens": int(encoded.target_lengths().sum()),
        }
        log("tokenize", f"{task}/{name}: {meta['splits'][name]}")
    write_json_atomic(out / "meta.json", meta)
    return meta
