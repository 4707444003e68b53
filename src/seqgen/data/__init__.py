"""Data half of the pipeline: raw readers, ingest, validation, tokenization."""
