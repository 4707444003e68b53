"""seqgen: a reproducible pipeline for generative text models (translation and dialogue)."""

__version__ = "0.1.0"
