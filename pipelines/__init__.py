"""Prefect flows and deployments over the DVC pipeline (see retrain.py)."""
