"""The commit describes what it reports: dvc.lock records, for every stage, the params and code of the tree as it
stands, and the committed metrics are the ones dvc.lock records. So a clone that runs `dvc pull` finds nothing
stale, and a commit that changes a knob or the code of a stage without reproducing it fails here.

In a copy of the tracked files (no data, no models: what a fresh clone has), `dvc status` may report only data
and outputs that are absent; never a changed param, a changed code file, a changed command or a changed metric.
"""

from __future__ import annotations

import json

import pytest
import yaml

from helpers import copy_tracked_files, sh

pytestmark = pytest.mark.integration
ABSENT = ("deleted", "not in cache")  # what a clone without `dvc pull` lacks: fine here


def test_dvc_lock_matches_the_committed_params_code_and_metrics(tmp_path):
    repo = tmp_path / "clone"
    copy_tracked_files(repo)
    sh("git", "init", "-q", cwd=repo)
    stages = set(sh("dvc", "stage", "list", "--name-only", cwd=repo).stdout.split())
    locked = set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"])
    assert stages - locked == set(), "stages that dvc.lock does not record (never reproduced)"
    assert locked - stages == set(), "dvc.lock entries of stages dvc.yaml no longer has"

    status = json.loads(sh("dvc", "status", "--json", cwd=repo, merge=False).stdout or "{}")
    stale = {}
    for stage, changes in status.items():
        for change in changes:
            if not isinstance(change, dict):  # "changed command", "always changed"
                stale.setdefault(stage, []).append(change)
                continue
            for kind, entries in change.items():
                for path, state in entries.items():
                    if isinstance(state, dict):  # params.yaml: {param: modified | new | deleted}
                        stale.setdefault(stage, []).append(f"{kind}: {path}: {state}")
                    elif state not in ABSENT:
                        stale.setdefault(stage, []).append(f"{kind}: {path} {state}")
    assert not stale, f"dvc.lock does not describe the committed tree (reproduce these stages, or do not commit): {stale}"
