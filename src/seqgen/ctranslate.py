"""CTranslate2, the inference engine a user would pick to serve a Transformer on a CPU: our trained weights converted
to its format, and decoding through it with the same beam (n-best) and greedy requests as our decoder. Sampling stays
ours: our draws repeat for a seed, CTranslate2's do not (its worker threads keep their own random generators,
OpenNMT/CTranslate2 issue 1757).

The conversion is exact, not an approximation: our network (pre-LN, sinusoidal positions, embeddings scaled by
sqrt(d_model), erf GELU, tied embeddings and output projection, fused q/k/v) is one CTranslate2 already implements,
so every tensor is copied as it is (teacher-forced sentence log-probabilities of the default model agree to 2e-5 in
fp32 on 200 validation pairs, 1.4e-6 a token, bench/bench_ctranslate2.py; greedy outputs are identical,
tests/model/test_ctranslate.py). What differs is beam search's length normalisation: ours is GNMT's
((5 + |y|) / 6) ** alpha, CTranslate2's |y| ** alpha, so an n-best list can rank a few sentences differently
(bench/bench_ctranslate2.py measures the BLEU of both).

The converted model is stored in float32; the precision is chosen when it is loaded (compute_type "int8" quantises
the weights then), so one converted folder serves both. Families whose decoder takes more than the previous tokens (the
VAE's latent z, added to every decoder input) cannot be expressed in CTranslate2's Transformer and keep our decoder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import numpy as np

from seqgen.data.tokenization import BOS_ID, EOS_ID, UNK_ID
from seqgen.training.trainer import file_md5

CONVERTED_DIR = "ctranslate2"  # beside the model files of a registered version
CONVERSION_FILE = "conversion.json"  # in the converted folder: what was converted, from which weights, and the md5 of the result
COMPUTE_TYPES = ("float32", "int8", "int8_float32", "bfloat16", "int8_bfloat16", "auto")



@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """params.yaml tasks.<task>.engine: what decodes a registered version's beam and greedy requests."""

    name: Literal["ctranslate2", "torch"] = "torch"  # ctranslate2: the weights converted at registration; torch: our decoder
    compute_type: Literal["float32", "int8"] = "int8"  # ctranslate2's precision, chosen when the model is loaded


def engine_config(params: dict, task: str) -> EngineConfig:
    """tasks.<task>.engine, or our decoder where a task declares none."""
    from seqgen.config import from_mapping

    spec = params["tasks"][task].get("engine")
    return EngineConfig() if spec is None else from_mapping(EngineConfig, spec, f"tasks.{task}.engine")


class NotConvertible(ValueError):
    """The model's family cannot be expressed in CTranslate2's Transformer."""


def why_not_convertible(config: dict) -> str | None:
    """None when a model of this saved config converts, else the reason."""
    if config.get("latent") is not None or config.get("family") == "vae":
        return f"the {config.get('family')} family adds its latent z to every decoder input, which CTranslate2's Transformer cannot take"
    return None


def convert(model_dir: Path, out_dir: Path) -> dict:
    """Write the CTranslate2 model of models/<task>-<family>/ (model.pt, config.json, tokenizer.model) to out_dir and
    return its record (also written to out_dir/conversion.json): the md5 of the weights it came from and of model.bin."""
    import ctranslate2
    from ctranslate2.specs import common_spec, transformer_spec

    from seqgen.data.tokenization import Tokenizer
    from seqgen.io import write_json_atomic
    from seqgen.models.store import load_model_dir

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    reason = why_not_convertible(json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    if reason:
        raise NotConvertible(f"{model_dir}: {reason}")
    loaded = load_model_dir(model_dir)
    net = loaded.seq2seq
    cfg = net.cfg
    spec = transformer_spec.TransformerSpec.from_config((cfg.encoder_layers, cfg.decoder_layers), cfg.heads, pre_norm=True,
                                                        activation=common_spec.Activation.GELU)
    state = {name: tensor.detach().float().numpy() for name, tensor in net.state_dict().items()}
    positions = net.positions.float().numpy()  # a buffer, not in the state_dict: the same table our decoder adds

    def linear(target, prefix: str) -> None:
        target.weight, target.bias = state[f"{prefix}.weight"], state[f"{prefix}.bias"]

    def norm(target, prefix: str) -> None:
        target.gamma, target.beta = state[f"{prefix}.weight"], state[f"{prefix}.bias"]

    for side, embeddings in (("encoder", spec.encoder.embeddings[0]), ("decoder", spec.decoder.embeddings)):
        embeddings.weight = state["embed.weight"]  # one joint vocabulary, tied everywhere
        getattr(spec, side).position_encodings.encodings = positions
        getattr(spec, side).scale_embeddings = True  # embed * sqrt(d_model), as Seq2Seq._embed
    norm(spec.encoder.layer_norm, "encoder_norm")
    norm(spec.decoder.layer_norm, "decoder_norm")
    spec.decoder.projection.weight = state["embed.weight"]
    spec.decoder.projection.bias = np.zeros(cfg.vocab_size, dtype=np.float32)
    for i, layer in enumerate(spec.encoder.layer):
        prefix = f"encoder.{i}"
        norm(layer.self_attention.layer_norm, f"{prefix}.norm1")
        linear(layer.self_attention.linear[0], f"{prefix}.attn.qkv")  # q, k, v stacked in that order: CTranslate2's fused layout
        linear(layer.self_attention.linear[1], f"{prefix}.attn.out")
        norm(layer.ffn.layer_norm, f"{prefix}.norm2")
        linear(layer.ffn.linear_0, f"{prefix}.ffn.0")
        linear(layer.ffn.linear_1, f"{prefix}.ffn.2")
    for i, layer in enumerate(spec.decoder.layer):
        prefix = f"decoder.{i}"
        norm(layer.self_attention.layer_norm, f"{prefix}.norm1")
        linear(layer.self_attention.linear[0], f"{prefix}.self_attn.qkv")
        linear(layer.self_attention.linear[1], f"{prefix}.self_attn.out")
        norm(layer.attention.layer_norm, f"{prefix}.norm2")
        linear(layer.attention.linear[0], f"{prefix}.cross_attn.q")
        linear(layer.attention.linear[1], f"{prefix}.cross_attn.kv")  # k, v stacked: CTranslate2's fused memory projection
        linear(layer.attention.linear[2], f"{prefix}.cross_attn.out")
        norm(layer.ffn.layer_norm, f"{prefix}.norm3")
        linear(layer.ffn.linear_0, f"{prefix}.ffn.0")
        linear(layer.ffn.linear_1, f"{prefix}.ffn.2")

    pieces = vocabulary(Tokenizer(loaded.tokenizer_path))
    spec.register_source_vocabulary(pieces)
    spec.register_target_vocabulary(pieces)
    spec.config.decoder_start_token = pieces[BOS_ID]
    spec.config.bos_token, spec.config.eos_token, spec.config.unk_token = pieces[BOS_ID], pieces[EOS_ID], pieces[UNK_ID]
    spec.config.layer_norm_epsilon = 1e-5  # torch.nn.LayerNorm's
    spec.validate()
    spec.optimize(quantization="float32")
    out_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(out_dir))
    record = {"engine": f"ctranslate2 {ctranslate2.__version__}", "from_model_md5": file_md5(model_dir / "model.pt"),
              "model_bin_md5": file_md5(out_dir / "model.bin"), "max_positions": int(positions.shape[0]),
              "note": "float32 weights; the compute type (float32, int8, ...) is chosen when the model is loaded"}
    write_json_atomic(out_dir / CONVERSION_FILE, record)
    return record


def vocabulary(tokenizer) -> list[str]:
    """The SentencePiece pieces in id order: CTranslate2 speaks tokens, we speak ids, and a piece maps to one id."""
    processor = tokenizer.processor
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


class Engine:
    """A converted model loaded in CTranslate2, decoding token ids as seqgen.evaluation.evaluate.decode_outputs does,
    for beam search (its n best, best first) and greedy decoding."""

    def __init__(self, converted_dir: Path, compute_type: str = "int8", threads: int = 0):
        import ctranslate2

        if compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type: expected one of {', '.join(COMPUTE_TYPES)}, got {compute_type!r}")
        self.dir = Path(converted_dir)
        self.record = json.loads((self.dir / CONVERSION_FILE).read_text(encoding="utf-8"))
        self.translator = ctranslate2.Translator(str(self.dir), device="cpu", compute_type=compute_type,
                                                 intra_threads=threads, inter_threads=1)
        self.compute_type = compute_type
        pieces = json.loads((self.dir / "shared_vocabulary.json").read_text(encoding="utf-8"))
        self.pieces, self.ids = pieces, {piece: i for i, piece in enumerate(pieces)}
        # Our position table bounds the decoder's steps: the start token and every output token take one.
        self.max_steps = int(self.record["max_positions"]) - 2

    def decode(self, sources: list[list[int]], request, max_output_tokens: int, length_penalty: float,
               batch_tokens: int = 3000) -> list[list[list[int]]]:
        """request.num_outputs output ids for every source, in input order (a seqgen.inference Request), batched as
        decode_outputs batches (length-sorted, batch_tokens source tokens), each batch capped at decode_outputs' limit
        (1.5 x its longest source + 10 tokens), so that both engines stop a runaway output at the same length."""
        from seqgen.decoding import output_limit
        from seqgen.evaluation.evaluate import _batches

        if not self.serves(request):
            raise ValueError(f"CTranslate2 decodes beam and greedy requests, not {request.strategy!r} (seeded sampling is ours)")
        n = request.num_outputs
        out: list[list[list[int]]] = [[] for _ in sources]
        per_batch = batch_tokens if request.strategy == "beam" else max(1, batch_tokens // n)  # decode_outputs' batches
        for chosen, src in _batches(sources, per_batch):
            limit = output_limit(src, min(max_output_tokens, self.max_steps))
            tokens = [[self.pieces[i] for i in sources[position]] for position in chosen]
            if request.strategy == "beam":
                results = self.translator.translate_batch(tokens, beam_size=max(request.beam, n), num_hypotheses=n,
                                                          length_penalty=length_penalty, max_decoding_length=limit)
                groups = [[self._ids(h) for h in result.hypotheses] for result in results]
            else:  # greedy: one search, repeated n times (as ours: only a latent would vary it)
                results = self.translator.translate_batch(tokens, beam_size=1, max_decoding_length=limit)
                groups = [[self._ids(result.hypotheses[0])] * n for result in results]
            for position, group in zip(chosen, groups):
                out[position] = group
        return out

    @staticmethod
    def serves(request) -> bool:
        """Whether this engine answers `request`: beam search and greedy. Sampling stays with our decoder, whose draws
        repeat for a seed; CTranslate2's do not (its worker threads keep their own generators: OpenNMT/CTranslate2
        issue 1757)."""
        return request.strategy in ("beam", "greedy")

    def _ids(self, hypothesis: list[str]) -> list[int]:
        return [self.ids[piece] for piece in hypothesis]

    def sequence_log_probs(self, sources: list[list[int]], targets: list[list[int]]) -> list[float]:
        """log p(target | source) per pair, teacher-forced: for checking the conversion against our network."""
        results = self.translator.score_batch([[self.pieces[i] for i in s] for s in sources],
                                              [[self.pieces[i] for i in t] for t in targets])
        return [float(sum(result.log_probs)) for result in results]
