import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Two workers (pytest-xdist) each start training and decoding processes of `train.run.threads` threads on as many
# cores: OpenMP threads that spin while they wait then starve each other (a kill-and-resume test file took 160 s
# beside the training tests, 98 s with waiting threads asleep: docs/EXPERIMENTS.md). The policy changes no result,
# only the waiting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from helpers import CORPORA, make_dailydialog_slice, make_multi30k_slice  # noqa: E402


def pytest_collection_modifyitems(items):
    """Files of real pipeline commands (marked `integration`, the long ones) first, each file's tests in their order:
    xdist hands whole files to its workers in this order, and a long file handed out last would end the run alone."""
    long_files = {item.path for item in items if item.get_closest_marker("integration")}
    items.sort(key=lambda item: item.path not in long_files)


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
def built_repo(tmp_path_factory, raw_slices) -> Path:
    """<root>/{repo, corpora}: a copy of the project on the real slices (helpers.make_repo) whose data stages of both
    tasks have run once with `dvc repro`. Read only: tests copy it (`copy_workspace`) and build on the copy; the
    output of that first run is in <root>/build.log."""
    from helpers import make_repo, sh

    root = tmp_path_factory.mktemp("built")
    repo = make_repo(root, raw_slices)
    run = sh("dvc", "repro", "tokenize@translation", "tokenize@dialogue", cwd=repo)
    (root / "build.log").write_text(run.stdout)
    import mlflow

    # The MLflow store's tables, made once here rather than by the first run in every copy (a few seconds each); each
    # copy still makes its own `seqgen` experiment, with its artifacts in that copy.
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}").search_experiments()
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
