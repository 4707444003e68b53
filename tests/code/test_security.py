"""Security rules that a grep can hold: every torch.load in the project reads tensors only."""

from __future__ import annotations

import ast

from helpers import PROJECT_ROOT


def torch_loads_without_weights_only(path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "torch":
                flag = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    lines.append(node.lineno)
    return lines


def test_every_torch_load_uses_weights_only():
    files = [p for folder in ("src", "bench", "pipelines", "tests") for p in (PROJECT_ROOT / folder).rglob("*.py")]
    assert len(files) > 30
    offenders = {str(p.relative_to(PROJECT_ROOT)): lines for p in files if (lines := torch_loads_without_weights_only(p))}
    assert offenders == {}


def test_the_scan_finds_an_unsafe_load(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nstate = torch.load('m.pt')\nok = torch.load('m.pt', weights_only=True)\n")
    assert torch_loads_without_weights_only(bad) == [2]
