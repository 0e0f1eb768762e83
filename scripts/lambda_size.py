"""Unzipped size of each built function plus its layers, checked against Lambda's 250 MB limit.

Usage: python scripts/lambda_size.py .aws-sam/build
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT_MB = 250


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def main(build: Path) -> int:
    layers = {p.name: size_mb(p) for p in build.iterdir() if p.is_dir() and p.name.endswith("Layer")}
    functions = {p.name: size_mb(p) for p in build.iterdir() if p.is_dir() and p.name.endswith("Function")}
    if not functions:
        print(f"no built functions under {build}", file=sys.stderr)
        return 1
    for name, mb in sorted(layers.items()):
        print(f"{name:<20} {mb:7.1f} MB")
    worst = 0.0
    for name, mb in sorted(functions.items()):
        total = mb + sum(layers.values())  # every function uses both layers (template Globals)
        worst = max(worst, total)
        print(f"{name:<20} {mb:7.3f} MB  + layers = {total:6.1f} MB of {LIMIT_MB} MB")
    return 0 if worst < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")))
