"""Security rules: every torch.load in the project reads tensors only (a scan of the code), and paths from the
command line and params.yaml cannot lead out of the project or the given data folder."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import PROJECT_ROOT, make_multi30k_slice
from seqgen.cli import main as cli_main


def torch_loads_without_weights_only(path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "torch":
                flag = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    lines.append(node.lineno)
        # code run as a string (`python -c "..."`): the same rule, by text
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(r"torch\.load\(\S", node.value):
            if "weights_only=True" not in node.value:
                lines.append(node.lineno)
    return lines


def test_every_torch_load_uses_weights_only():
    # Hidden folders are not project code (e.g. bench/.venv-joeynmt, the peer benchmark's own virtualenv).
    files = [p for folder in ("src", "bench", "pipelines", "tests") for p in (PROJECT_ROOT / folder).rglob("*.py")
             if not any(part.startswith(".") for part in p.relative_to(PROJECT_ROOT).parts)]
    assert len(files) > 30
    offenders = {str(p.relative_to(PROJECT_ROOT)): lines for p in files if (lines := torch_loads_without_weights_only(p))}
    assert offenders == {}


def test_the_scan_finds_an_unsafe_load(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nstate = torch.load('m.pt')\nok = torch.load('m.pt', weights_only=True)\n"
                   "code = \"import torch; torch.load('m.pt', weights_only=False)\"\n")
    assert torch_loads_without_weights_only(bad) == [2, 4]


# ---- paths from the command line and params.yaml stay inside the project or the given data folder ----------
@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the working directory) with the real params.yaml, a raw Multi30k slice in
    data/raw, and a folder outside it holding a file an attacker would like read."""
    root = tmp_path / "project"
    make_multi30k_slice(root / "data" / "raw" / "multi30k", train=50, evaluation=10)
    shutil.copy(PROJECT_ROOT / "params.yaml", root / "params.yaml")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(root / "params.yaml", outside / "params.yaml")
    monkeypatch.chdir(root)
    return root, outside


def run_ingest(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqgen.stages.ingest", "translation", "--raw-dir", "data/raw/multi30k", *extra],
                          capture_output=True, text=True)


def link_train_file_to(root, target) -> None:
    """Move the raw train.en.gz to `target` and leave a symlink to it in its place."""
    raw = root / "data" / "raw" / "multi30k"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(raw / "train.en.gz", target)
    (raw / "train.en.gz").symlink_to(target)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_a_params_file_outside_the_project_is_refused_by_every_entry_point(project, kind):
    root, outside = project
    given = {"dotdot": "../outside/params.yaml", "absolute": str(outside / "params.yaml"), "symlink": "linked.yaml"}[kind]
    (root / "linked.yaml").symlink_to(outside / "params.yaml")
    result = run_ingest("--params", given)
    assert result.returncode == 2
    assert f"argument --params: {given}: resolves to {outside / 'params.yaml'}, outside the project" in result.stderr
    for argv in (["validate", "translation", "--params", given], ["registry", "promote", "translation-mle", "1", "--params", given]):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(argv)
        assert exit_info.value.code == 2
    assert not (root / "data" / "interim").exists()


def test_a_params_file_inside_the_project_is_accepted(project):
    root, _ = project
    (root / "conf").mkdir()
    shutil.copy(root / "params.yaml", root / "conf" / "p.yaml")
    result = run_ingest("--params", "conf/../conf/p.yaml")
    assert result.returncode == 0, result.stderr
    assert (root / "data" / "interim" / "translation" / "train.jsonl").is_file()


@pytest.mark.parametrize("lang", ["../../outside/x", "/etc/passwd", "en/..", "EN", ""])
def test_a_language_code_that_is_a_path_is_refused_before_any_file_is_opened(project, lang):
    root, _ = project
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tasks"]["translation"]["data"]["source_lang"] = lang
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_ingest()
    assert result.returncode == 1
    assert f"tasks.translation.data.source_lang: {lang!r} is not a language code" in result.stderr
    assert not (root / "data" / "interim").exists()


def test_a_corpus_file_linked_out_of_the_data_folder_and_project_is_refused(project):
    root, outside = project
    link_train_file_to(root, outside / "train.en.gz")
    result = run_ingest()
    assert result.returncode == 1
    assert f"data/raw/multi30k/train.en.gz: resolves to {outside / 'train.en.gz'}, outside the data folder" in result.stderr
    assert not (root / "data" / "interim").exists()


def test_a_corpus_file_linked_into_the_project_cache_is_read(project):
    """DVC's symlink cache type links data files to .dvc/cache: inside the project, so allowed."""
    root, _ = project
    link_train_file_to(root, root / ".dvc" / "cache" / "files" / "md5" / "ab" / "cdef")
    result = run_ingest()
    assert result.returncode == 0, result.stderr
    assert len((root / "data" / "interim" / "translation" / "train.jsonl").read_text().splitlines()) == 51


def test_a_task_whose_corpus_import_is_missing_is_named_and_nothing_is_written(project):
    root, _ = project
    shutil.rmtree(root / "data" / "raw" / "multi30k")
    result = subprocess.run([sys.executable, "-m", "seqgen.stages.ingest", "translation"], capture_output=True, text=True)
    assert result.returncode == 1
    assert ("data/raw/multi30k: no such folder: the corpus of task 'translation' (tasks.translation.corpus.path) is not here; "
            "bring it with `dvc import-url URL data/raw/multi30k`") in result.stderr
    assert not (root / "data" / "interim").exists()
