"""`synthguard verify`: report every label in files, with checks and a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from synthguard.cli.common import console, err_console, write_stdout

VERDICT_STYLE = {
    "compliant": "green",
    "non-compliant": "red",
    "inconclusive": "yellow",
    "not-found": "yellow",
}


def _trust(paths: list[Path]) -> object:
    from synthguard.label.keys import PublicKey
    from synthguard.label.security import TrustStore

    keys = []
    for path in paths:
        try:
            keys.append(PublicKey.from_pem(path.read_bytes()))
        except OSError as exc:
            from synthguard.errors import KeyError_

            raise KeyError_(f"cannot read key: {exc.strerror}", path=str(path)) from None
    return TrustStore.of(keys)


def _print(report: dict[str, Any]) -> None:
    style = VERDICT_STYLE.get(report["verdict"], "white")
    console.print(f"[bold]{report['path']}[/bold]  {report['format']}  [{style}]{report['verdict']}[/{style}]")
    for lab in report["labels"]:
        fields = lab["fields"] or {}
        std = "standard" if lab["standard"] else "NON-STANDARD"
        console.print(f"  label in {lab['carrier']} ({std}, shape {lab['shape']})", markup=False)
        for key in ("Label", "ContentProducer", "ProduceID", "ContentPropagator", "PropagateID"):
            if key in fields:
                console.print(f"    {key}: {fields[key]}", markup=False)
        for sig in lab["signatures"]:
            if sig["status"] != "absent":
                console.print(
                    f"    {sig['role']} signature: {sig['status']} {sig['algorithm'] or ''} "
                    f"key {sig['key_id'] or '-'} {sig['detail']}",
                    markup=False,
                )
    for reason in report["reasons"]:
        console.print(f"  - {reason}", markup=False)
    for name, value in report.get("checks", {}).items():
        if name == "ledger":
            _print_ledger(value)
        else:
            console.print(f"  {name}: {json.dumps(value, ensure_ascii=False)}", markup=False)


def _print_ledger(value: dict[str, Any]) -> None:
    if not value["entries"]:
        console.print("  ledger: no generation record found for this file", markup=False)
    for entry in value["entries"]:
        rec = entry["record"]
        console.print(
            f"  ledger: entry #{entry['index']} ({', '.join(entry['matched_by'])}), proof {entry['proof']}, "
            f"user {rec.get('user')}, time {rec.get('time')}, review {rec.get('review')}",
            markup=False,
        )
    if value.get("note"):
        console.print(f"  ledger: {value['note']}", markup=False)


def verify_command(
    files: Annotated[list[Path], typer.Argument(help="Files or directories (walked recursively).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of reports.")] = False,
    trust: Annotated[list[Path] | None, typer.Option("--trust", help="Pinned public key PEM (repeatable).")] = None,
    explicit: Annotated[
        bool, typer.Option("--explicit", help="Also look for the explicit (visible/audible) label.")
    ] = False,
    watermark_key: Annotated[
        Path | None, typer.Option("--watermark-key", help="Detect the watermark made with this secret key file.")
    ] = None,
    producer_short_id: Annotated[
        int, typer.Option("--producer-short-id", help="This provider's 16-bit id in watermark payloads.")
    ] = 1,
    ledger: Annotated[
        str | None, typer.Option("--ledger", help="Trace each file in this ledger (SQLite path or postgresql:// URL).")
    ] = None,
) -> None:
    """Verify GB 45438 metadata labels: exit 0 only when every file is compliant."""
    from synthguard.cli.common import reported
    from synthguard.cli.walk import expand
    from synthguard.errors import SynthguardError
    from synthguard.verify import verify

    with reported():
        store = _trust(trust or [])
        wm = None
        if watermark_key is not None:
            from synthguard.watermarking import WatermarkConfig

            wm = WatermarkConfig.load(watermark_key, producer_short_id)
    reports: list[dict[str, Any]] = []
    status = 0
    for path, _root in expand(files):
        try:
            rep = verify(path, store, ledger=ledger, explicit=explicit, watermark=wm).to_dict()  # type: ignore[arg-type]
        except SynthguardError as exc:
            exc.at(str(path))
            err_console.print(f"synthguard: error: {exc}", markup=False, soft_wrap=True)
            status = status or exc.exit_code
            if as_json:
                reports.append({"path": str(path), "error": exc.message, "verdict": None})
            continue
        reports.append(rep)
        if rep["verdict"] != "compliant":
            status = status or 1
        if not as_json:
            _print(rep)
    if as_json:
        write_stdout(json.dumps(reports, ensure_ascii=False, indent=2))
    raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    """Add the verify verb."""
    app.command("verify")(verify_command)
