"""The model families, one module each (mle.py, vae.py, gan.py): its config, how to build and warm-start its
model, its training objective, what decoding needs from it and its held-out perplexity. Everything that
differs between families lives there; the stages, the CLI, the retrain flow and bench read this registry.

Adding a family: a module here whose `FAMILY` is a `Family` (base.py), its name in NAMES, its params section
under `tasks.<task>.train.<name>`, and a train-<name> stage group plus the name in dvc.yaml's matrices.
Importing this package does not import torch (the CLI's --help stays fast); `get()` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqgen.families.base import Family

NAMES = ("mle", "vae", "gan")


def get(name: str) -> Family:
    """The family called `name`; a ConfigError naming the known ones otherwise."""
    if name not in NAMES:
        from seqgen.errors import ConfigError

        raise ConfigError(f"unknown model family {name!r}: the families are {', '.join(NAMES)}")
    return importlib.import_module(f"seqgen.families.{name}").FAMILY
