"""Fixtures for model tests: tiny workspaces built from slices of the real corpora (see tiny.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny import make_workspace


@pytest.fixture(scope="session")
def translation_ws(tmp_path_factory, raw_slices) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws-translation"), raw_slices, "translation")


@pytest.fixture(scope="session")
def dialogue_ws(tmp_path_factory, raw_slices) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws-dialogue"), raw_slices, "dialogue")
