"""Expanding FILE arguments (directories walked recursively) and mapping them to output paths."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from synthguard.errors import InputError, OutputError


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes (None: no output file)."""

    source: Path
    target: Path | None
    mirrored: bool = False


def expand(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """Each file under the arguments, with the root it was found under (for relative output paths)."""
    for root in paths:
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".sgtmp")):
                yield path, root
        else:
            yield root, root.parent


def plan(paths: list[Path], output: Path | None, in_place: bool) -> list[Job]:
    """Jobs for a writing verb: -o FILE (one input), -o DIR (mirrors the tree) or --in-place."""
    if output is not None and in_place:
        raise InputError("give either -o/--output or --in-place, not both")
    if output is None and not in_place:
        raise InputError("give -o/--output (a file, or a directory for several inputs) or --in-place")
    items = list(expand(paths))
    if in_place:
        return [Job(src, src) for src, _ in items]
    assert output is not None
    many = len(items) > 1 or any(p.is_dir() for p in paths)
    if not many and not output.is_dir():
        return [Job(items[0][0], output)] if items else []
    if output.exists() and not output.is_dir():
        raise OutputError("several inputs need -o to be a directory", path=str(output))
    jobs = []
    for src, root in items:
        rel = src.relative_to(root) if src != root else Path(src.name)
        jobs.append(Job(src, output / rel, mirrored=True))
    return jobs
