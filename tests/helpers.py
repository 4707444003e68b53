"""Test helpers: the sandbox (slices of the real corpora, scratch copies of the project) and the declared tasks."""

from __future__ import annotations

from seqgen.sandbox import (  # noqa: F401 (re-exported for the tests)
    CORPORA,
    DAILYDIALOG_ZIP,
    MULTI30K_GZ,
    PROJECT_ROOT,
    TAB_LINE,
    copy_tracked_files,
    copy_workspace,
    make_dailydialog_slice,
    make_multi30k_slice,
    make_repo,
    read_gz_lines,
    read_zip_lines,
    sh,
    slice_params,
    write_gz_lines,
    write_zip_lines,
    zip_member,
)


def task_spec_of(task: str):
    """The TaskSpec params.yaml declares for `task` (what ingest and the stages read)."""
    from seqgen.config import load_params, task_spec

    return task_spec(load_params(PROJECT_ROOT / "params.yaml"), task)
