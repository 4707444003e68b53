import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from helpers import CORPORA, make_dailydialog_slice, make_multi30k_slice  # noqa: E402


def pytest_sessionstart(session):
    if not CORPORA.is_dir():
        raise pytest.UsageError(f"the real corpora are expected at {CORPORA} (a copy of shared/ beside the project)")


@pytest.fixture(scope="session")
def raw_slices(tmp_path_factory) -> Path:
    """Slices of both real corpora in their official form: <root>/multi30k/*.gz, <root>/dailydialog/*.zip."""
    root = tmp_path_factory.mktemp("raw")
    make_multi30k_slice(root / "multi30k")
    make_dailydialog_slice(root / "dailydialog")
    return root


@pytest.fixture(scope="session")
def translation_ws(tmp_path_factory, raw_slices) -> Path:
    """A tiny translation workspace (data/interim, data/processed) from the real slices (see tiny.py)."""
    from tiny import make_workspace

    return make_workspace(tmp_path_factory.mktemp("ws-translation"), raw_slices, "translation")


@pytest.fixture(scope="session")
def dialogue_ws(tmp_path_factory, raw_slices) -> Path:
    from tiny import make_workspace

    return make_workspace(tmp_path_factory.mktemp("ws-dialogue"), raw_slices, "dialogue")
