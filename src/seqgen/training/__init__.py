"""Training: token-bucketed batches, the family objectives and the one trainer loop they share."""
