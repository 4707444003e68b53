"""Evaluation: decoding whole splits and scoring them (sacreBLEU, chrF, perplexity, diversity)."""
