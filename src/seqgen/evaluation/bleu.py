"""sacreBLEU over decoded batches (used for validation BLEU during training)."""

from __future__ import annotations

from seqgen.data.tokenization import EOS_ID, PAD_ID, Tokenizer
from seqgen.decoding import generate


def batches_bleu(objective, batches, tokenizer: Tokenizer, max_len: int) -> float:
    """Corpus BLEU of greedy outputs (z = prior mean for the VAE) against the batches' references."""
    import sacrebleu

    hypotheses, references = [], []
    for batch in batches:
        outputs, _ = generate(objective.generator, batch.src, max_len, extra=objective.decoder_extra(batch.src))
        hypotheses += tokenizer.decode(outputs)
        references += tokenizer.decode([[t for t in row.tolist() if t not in (PAD_ID, EOS_ID)] for row in batch.tgt_out])
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)
