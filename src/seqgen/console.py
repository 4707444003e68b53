"""Progress lines on stderr, `[<who>] <message>`: what the stages and the library say as they work."""

from __future__ import annotations

import sys


def log(name: str, message: str) -> None:
    print(f"[{name}] {message}", file=sys.stderr, flush=True)
