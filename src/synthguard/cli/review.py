"""`synthguard review` and `synthguard lexicon import|export|stats|evaluate`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from synthguard.cli.common import console, reported, write_stdout
from synthguard.errors import ConfigError, InputError

LIBRARY_HELP = "Library file (JSON) or a directory holding library.json [env SYNTHGUARD_LEXICON]."
LibraryOpt = Annotated[Path | None, typer.Option("--library", "-l", help=LIBRARY_HELP)]


def _library_location(library: Path | None) -> Path:
    if library is not None:
        return library
    env = os.environ.get("SYNTHGUARD_LEXICON")
    return Path(env) if env else Path("synthguard-lexicon.json")


def review_cmd(
    content: Annotated[str, typer.Argument(help="Text to review, or a path to a UTF-8 text file ('-' reads stdin).")],
    library: LibraryOpt = None,
    direction: Annotated[str | None, typer.Option(help="input or output.")] = None,
    service: Annotated[str | None, typer.Option(help="Service type the policy and entry scopes apply to.")] = None,
    policy: Annotated[Path | None, typer.Option(help="Review policy JSON.")] = None,
    banks: Annotated[Path | None, typer.Option(help="Hash-bank directory (for images and video).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Review text, a text file, an image or a video; exit 12 when blocked."""
    import sys

    from synthguard.review.hashbank import HashBanks
    from synthguard.review.lexio import decode_text, library_path, load_library
    from synthguard.review.reviewer import Policy, Reviewer
    from synthguard.review.taxonomy import Decision

    with reported():
        where = library_path(_library_location(library))
        if not where.exists():
            raise ConfigError(f"no library at {where}; create one with `synthguard lexicon import`")
        lib = load_library(where)
        reviewer = Reviewer(
            lib,
            banks=HashBanks.load(banks) if banks else None,
            policy=Policy.load(policy) if policy else None,
        )
        if direction not in (None, "input", "output"):
            raise InputError(f"--direction must be input or output, not {direction!r}")
        path = Path(content)
        if content == "-":
            result = reviewer.review_text(
                decode_text(sys.stdin.buffer.read(), "<stdin>"), direction=direction, service=service
            )
        elif len(content) < 4096 and path.is_file():
            from synthguard.errors import UnsupportedFormat
            from synthguard.fileio import read_input
            from synthguard.media import Media

            data = read_input(path)
            try:  # the modality comes from the bytes, never from the file name
                modality = Media.from_bytes(data, path.name).sniffed.modality.value
            except UnsupportedFormat:
                modality = "text"
            if modality == "video":
                result = reviewer.review_video(path, direction=direction, service=service)
            elif modality == "image":
                result = reviewer.review_image(data, name=str(path), direction=direction, service=service)
            else:
                result = reviewer.review_text(decode_text(data, str(path)), direction=direction, service=service)
        else:
            result = reviewer.review_text(content, direction=direction, service=service)
    if as_json:
        write_stdout(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        console.print(
            f"{result.decision}  ({len(result.findings)} finding(s), library v{result.library_version})", markup=False
        )
        for f in result.findings:
            where_ = f"[{f.start}:{f.end}] {f.excerpt!r}" if f.start >= 0 else f"{f.bank} d={f.distance}"
            console.print(
                f"  {f.action:<6} {f.risk or '-':<6} {f.view or f.source:<9} {where_} <- {f.term}", markup=False
            )
        for note in result.notes:
            console.print(f"  note: {note}", markup=False)
    if result.decision is Decision.BLOCK:
        raise typer.Exit(12)


lexicon_app = typer.Typer(help="Manage the feature library: import, export, stats, evaluate.", no_args_is_help=True)


@lexicon_app.command("import")
def import_cmd(
    source: Annotated[Path, typer.Argument(help="Word list: .txt (one term a line), .csv (header row) or .json.")],
    library: LibraryOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="txt, csv or json (default: from the suffix).")] = None,
    risk: Annotated[str | None, typer.Option(help="GB/T 45654 risk code for rows without one, e.g. A.1.6.")] = None,
    action: Annotated[str | None, typer.Option(help="block, review, flag or allow.")] = None,
    severity: Annotated[str | None, typer.Option(help="low, medium, high or critical.")] = None,
    views: Annotated[str | None, typer.Option(help="Views, '|'-separated, e.g. 'normal|pinyin'.")] = None,
    by: Annotated[str, typer.Option("--by", help="Who adds the entries (logged).")] = "",
    reason: Annotated[str, typer.Option(help="Why they are added (logged).")] = "",
    source_name: Annotated[str | None, typer.Option("--source", help="Where the list comes from.")] = None,
) -> None:
    """Add entries from a word list to the library (a new version; every change is logged)."""
    from synthguard.review.lexicon import Library
    from synthguard.review.lexio import defaults_for, library_path, load_library, read_entries, save_library

    with reported():
        if not by:
            raise InputError("--by is required: the intake procedure records who added each entry")
        where = library_path(_library_location(library))
        lib = load_library(where) if where.exists() else Library(name=where.stem)
        defaults = defaults_for(
            risk=risk,
            action=action,
            severity=severity,
            views=views,
            source=source_name or source.name,
            added_by=by,
            reason=reason,
        )
        entries = read_entries(source, fmt=fmt, defaults=defaults)
        added = lib.add(entries, actor=by, reason=reason, op="import")
        save_library(lib, where)
    console.print(
        f"{len(added)} added, {len(entries) - len(added)} already present; "
        f"{where} is now version {lib.version} with {len(lib.entries)} entries",
        markup=False,
    )


@lexicon_app.command("export")
def export_cmd(
    library: LibraryOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="txt, csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Export the library's entries."""
    from synthguard.fileio import write_atomic
    from synthguard.review.lexio import export_entries, library_path, load_library

    with reported():
        lib = load_library(library_path(_library_location(library)))
        text = export_entries(lib.entries.values(), fmt)
        if output is not None:
            write_atomic(output, text.encode("utf-8"))
            return
    write_stdout(text)


@lexicon_app.command("stats")
def stats_cmd(library: LibraryOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts by risk code, action, view and status."""
    from collections import Counter

    from synthguard.review.lexio import library_path, load_library

    with reported():
        lib = load_library(library_path(_library_location(library)))
    entries = list(lib.entries.values())
    stats = {
        "name": lib.name,
        "version": lib.version,
        "entries": len(entries),
        "changes_logged": len(lib.log),
        "by_risk": dict(sorted(Counter(e.risk or "-" for e in entries).items())),
        "by_action": dict(Counter(str(e.action) for e in entries)),
        "by_status": dict(Counter(str(e.status) for e in entries)),
        "by_view": dict(Counter(v for e in entries for v in e.views)),
    }
    if as_json:
        write_stdout(json.dumps(stats, ensure_ascii=False, indent=1))
        return
    for key, value in stats.items():
        console.print(f"{key}: {value}", markup=False)


@lexicon_app.command("evaluate")
def evaluate_cmd(
    library: LibraryOpt = None,
    clean: Annotated[
        list[Path] | None, typer.Option(help="Clean text files or directories for the false-hit rate.")
    ] = None,
    sample: Annotated[int | None, typer.Option(help="Evaluate recall on the first N entries only.")] = None,
    total: Annotated[int, typer.Option(help="Coverage threshold: entries in all.")] = 10_000,
    per_a1: Annotated[int, typer.Option(help="Coverage threshold: entries per A.1 risk.")] = 200,
    per_a2: Annotated[int, typer.Option(help="Coverage threshold: entries per A.2 risk.")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recall per evasion type, false hits on clean text, and GB/T 45654 coverage; exit 1 on a shortfall."""
    from synthguard.review.evaluate import Thresholds, evaluate
    from synthguard.review.lexio import library_path, load_library

    with reported():
        lib = load_library(library_path(_library_location(library)))
        files: list[Path] = []
        for p in clean or []:
            files += sorted(p.rglob("*.txt")) if p.is_dir() else [p]
        report = evaluate(lib, clean=files, sample=sample, thresholds=Thresholds(total, per_a1, per_a2))
    if as_json:
        write_stdout(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        console.print("evasion        found / tried   recall", markup=False)
        for name, (found, tried) in report.recall.items():
            rate = f"{found / tried:.4f}" if tried else "n/a"
            console.print(f"{name:<14} {found:>6} / {tried:<6} {rate}", markup=False)
        console.print(
            f"false hits: {report.clean_hits} in {report.clean_chars} chars "
            f"({report.hits_per_10k:.2f} per 10k chars; {report.clean_lines_hit}/{report.clean_lines} "
            f"lines)",
            markup=False,
        )
        console.print(f"coverage: {report.total} entries; shortfalls: {len(report.shortfalls)}", markup=False)
        for s in report.shortfalls:
            console.print(f"  {s}", markup=False)
    if report.shortfalls:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the review verbs to the synthguard command."""
    app.command("review")(review_cmd)
    app.add_typer(lexicon_app, name="lexicon")
