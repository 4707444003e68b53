"""Models: the Transformer seq2seq backbone (`mle`), the conditional VAE (`vae`) and the GAN pieces (`gan`)."""

from seqgen.models.transformer import ModelConfig, Seq2Seq, build_model

__all__ = ["ModelConfig", "Seq2Seq", "build_model"]
