import subprocess
import sys

import pytest

from seqgen.cli import STAGES, build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in STAGES:
        assert name in out


@pytest.mark.parametrize("command", list(STAGES))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    assert "translation, dialogue (the names under `tasks:` in params.yaml)" in " ".join(capsys.readouterr().out.split())


def test_stage_entry_points_reject_an_unknown_task():
    result = subprocess.run([sys.executable, "-m", "seqgen.stages.validate", "music"], capture_output=True, text=True)
    assert result.returncode == 1 and "unknown task 'music'; params.yaml declares: translation, dialogue" in result.stderr


def test_stage_reports_a_missing_params_file_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "seqgen.stages.tokenize", "translation", "--params", "p.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "[tokenize@translation] error:" in result.stderr and "params file not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["show", "x' or name = 'y"], ["rollback", "../../etc"], ["promote", "music-mle", "1"], ["promote", "translation-mle", "1 or 2"]])
def test_registry_commands_refuse_names_that_are_not_models(args, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
    assert main(["registry", *args]) == 1
    err = capsys.readouterr().err
    assert "is not a seqgen model name" in err or "expected a version number" in err


def test_registry_names_are_checked_by_their_shape_where_there_is_no_params_file(tmp_path, monkeypatch):
    from seqgen.commands import check_model_name
    from seqgen.errors import SeqgenError

    monkeypatch.chdir(tmp_path)
    check_model_name("de_en-vae")  # another workspace's task: the registry may hold it
    for bad in ("x' or name = 'y", "de_en-transformer", "../../etc-mle"):
        with pytest.raises(SeqgenError, match="is not a seqgen model name: <task>-<family>"):
            check_model_name(bad)
