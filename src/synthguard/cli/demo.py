"""`synthguard demo`: make a sample of every format, label and sign each, and print its verification report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from synthguard.cli.common import console, err_console

DEMO_PRODUCER = "001191440300708461136T1XGW3"  # a real-format code seen in labeled files (gb45438.md §4)
DEMO_PROPAGATOR = "00119144030008867405X220001"


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo files (replaced).")] = Path("demo-output"),
) -> None:
    """Create sample files of every supported format, label and sign them, then verify each."""
    from rich.table import Table

    from synthguard.errors import SynthguardError
    from synthguard.fileio import write_atomic
    from synthguard.label.keys import SigningKey
    from synthguard.label.security import TrustStore
    from synthguard.labeling import label_media, propagate_media
    from synthguard.media import Media
    from synthguard.samples import MAKERS, make_sample
    from synthguard.verify import verify

    if out.exists():
        shutil.rmtree(out)
    originals, labeled = out / "originals", out / "labeled"
    originals.mkdir(parents=True)
    labeled.mkdir()
    key = SigningKey.generate("sm2")
    key.save(out / "producer-sm2.pem")
    write_atomic(out / "producer-sm2.pem.pub", key.public.to_pem().encode())
    trust = TrustStore.of([key.public])
    console.print(f"Demo in {out}/ — producer {DEMO_PRODUCER}, SM2 key {key.public.key_id}\n", markup=False)

    table = Table(title="GB 45438 metadata labels: written, read back, verified")
    for col, width in (("file", 16), ("format", 10), ("verdict", 13), ("signature", 13)):
        table.add_column(col, no_wrap=True, min_width=width)
    table.add_column("carrier", no_wrap=True, overflow="ellipsis", max_width=48)
    failures = 0
    for kind in MAKERS:
        try:
            ext, data = make_sample(kind, seed=len(kind))
        except Exception as exc:  # an optional encoder missing on this machine is reported, not fatal
            err_console.print(f"skipped {kind}: cannot make a sample here ({type(exc).__name__}: {exc})", markup=False)
            continue
        src = originals / f"sample{ext}"
        if kind == "opus":
            src = originals / "sample-opus.ogg"
        src.write_bytes(data)
        dst = labeled / src.name
        try:
            result = label_media(Media.open(src), DEMO_PRODUCER, signer=key)
            write_atomic(dst, result.data)
            report = verify(dst, trust)
        except SynthguardError as exc:
            failures += 1
            table.add_row(src.name, kind, "[red]error[/red]", "-", exc.message)
            continue
        sig = report.labels[0].signatures[0].status.value if report.labels else "-"
        color = "green" if report.verdict.value == "compliant" else "red"
        failures += report.verdict.value != "compliant"
        carrier = report.labels[0].found.carrier if report.labels else "-"
        table.add_row(src.name, report.format or "-", f"[{color}]{report.verdict.value}[/{color}]", sig, carrier)
    console.print(table)

    platform = out / "platform"
    platform.mkdir()
    first = labeled / "sample.png"
    if first.exists():
        prop = propagate_media(Media.open(first), DEMO_PROPAGATOR, "platform-0001")
        if prop.data is not None:
            write_atomic(platform / "sample.png", prop.data)
            rep = verify(platform / "sample.png", trust)
            fields = rep.labels[0].found.label.fields() if rep.labels and rep.labels[0].found.label else {}
            console.print(
                f"\nPlatform propagation (Measures Art. 6, case {prop.case.value}): "
                f"{platform / 'sample.png'} -> Label={fields.get('Label')} "
                f"ContentPropagator={fields.get('ContentPropagator')} verdict={rep.verdict.value}",
                markup=False,
            )
    console.print(
        f"\nVerify any of them yourself: synthguard verify {labeled} --trust {out}/producer-sm2.pem.pub", markup=False
    )
    raise typer.Exit(1 if failures else 0)


def register(app: typer.Typer) -> None:
    """Add the demo verb."""
    app.command("demo")(demo_command)
