"""Training: token-bucketed batches, the one trainer loop every family's objective
(seqgen.families) shares, and job.py, which composes a run from params."""
