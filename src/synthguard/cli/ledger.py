"""`synthguard ledger`: append generation records, show, prove, verify, sign checkpoints, find, prune."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthguard.cli.common import console, reported, write_stdout

if TYPE_CHECKING:
    from synthguard.ledger import Ledger, Signer, Verifier

ledger_app = typer.Typer(
    help="The tamper-evident generation ledger (RFC 9162 Merkle log, signed C2SP checkpoints).",
    no_args_is_help=True,
)

LedgerOpt = Annotated[
    str,
    typer.Option(
        "--ledger",
        "-l",
        envvar="SYNTHGUARD_LEDGER",
        help="Ledger: an SQLite file path, or a postgresql:// URL.",
    ),
]
KeyOpt = Annotated[list[Path], typer.Option("--key", "-k", help="PEM key file (Ed25519 or SM2); repeatable.")]
_BATCH = 5000


def _open(target: str, create: bool = False, **kwargs: Any) -> Ledger:
    from synthguard.ledger import Ledger

    return Ledger.open(target, create=create, **kwargs)


def _signers(paths: list[Path]) -> list[Signer]:
    from synthguard.fileio import read_input
    from synthguard.ledger import load_signer

    out = []
    for p in paths:
        with reported(str(p)):
            out.append(load_signer(read_input(p, limit=1 << 16)))
    return out


def _verifiers(paths: list[Path]) -> list[Verifier]:
    from synthguard.fileio import read_input
    from synthguard.ledger import load_verifier

    out = []
    for p in paths:
        with reported(str(p)):
            out.append(load_verifier(read_input(p, limit=1 << 16)))
    return out


def _emit(obj: Any, out: Path | None) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        write_stdout(text)
        return
    from synthguard.fileio import write_atomic

    with reported(str(out)):
        write_atomic(out, text.encode())


def _file_hash(path: Path) -> str:
    import hashlib

    from synthguard.errors import InputError

    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    return "sha256:" + h.hexdigest()


@ledger_app.command("append")
def append(
    ledger: LedgerOpt,
    produce_id: Annotated[str | None, typer.Option("--produce-id", help="The label's ProduceID.")] = None,
    producer: Annotated[str | None, typer.Option("--producer", help="ContentProducer code.")] = None,
    content_hash: Annotated[str | None, typer.Option("--content-hash", help="sha256:<hex> of the output.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Hash this output file instead.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="User pseudonym (never a raw ID).")] = None,
    label: Annotated[str | None, typer.Option("--label", help="The label as JSON text.")] = None,
    watermark: Annotated[str | None, typer.Option("--watermark", help="Watermark payload (hex).")] = None,
    review: Annotated[str, typer.Option("--review", help="Review decision.")] = "pass",
    time: Annotated[str | None, typer.Option("--time", help="ISO 8601 time with zone (default now).")] = None,
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help="Append many records: one JSON object per line ('-' = stdin).")
    ] = None,
    origin: Annotated[str | None, typer.Option("--origin", help="Log origin when creating a new ledger.")] = None,
    key: KeyOpt = [],  # noqa: B006 - typer reads the default, never mutates it
) -> None:
    """Append generation records durably; prints their indices (and a signed checkpoint with --key)."""
    import sys

    from synthguard.errors import CorruptInput, InputError
    from synthguard.ledger import generation

    signers = _signers(key)
    with reported(ledger):
        if jsonl is not None:
            try:
                lines = (sys.stdin.read() if str(jsonl) == "-" else jsonl.read_text(encoding="utf-8")).splitlines()
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror}", path=str(jsonl)) from None
            except UnicodeDecodeError:
                raise CorruptInput("not UTF-8 text", path=str(jsonl)) from None
            records = []
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError
                    records.append(generation(**obj))
                except (ValueError, TypeError) as exc:
                    detail = "not a JSON object of record fields" if not isinstance(exc, InputError) else str(exc)
                    raise CorruptInput(f"line {number}: {detail}", path=str(jsonl)) from None
                except InputError as exc:
                    raise InputError(f"line {number}: {exc.message}", path=str(jsonl)) from None
        else:
            if file is not None:
                content_hash = _file_hash(file)
            missing = [
                n for n, v in (("--produce-id", produce_id), ("--producer", producer), ("--user", user)) if not v
            ]
            if not content_hash:
                missing.append("--content-hash or --file")
            if missing:
                raise InputError(f"missing {', '.join(missing)} (or use --jsonl)")
            try:
                label_obj = json.loads(label) if label and label.lstrip().startswith("{") else label
            except ValueError:
                raise InputError("--label is not valid JSON") from None
            records = [
                generation(
                    produce_id=str(produce_id),
                    producer=str(producer),
                    content_hash=str(content_hash),
                    user=str(user),
                    label=label_obj,
                    watermark=watermark,
                    review=review,
                    time=time,
                )
            ]
        with _open(ledger, create=True, origin=origin) as log:
            indices: list[int] = []
            for i in range(0, len(records), _BATCH):
                indices.extend(log.append(records[i : i + _BATCH]))
            text = log.sign_checkpoint(signers) if signers else None
    if indices:
        span = str(indices[0]) if len(indices) == 1 else f"{indices[0]}..{indices[-1]}"
        console.print(
            f"appended {len(indices)} entr{'y' if len(indices) == 1 else 'ies'}: {span}", markup=False, soft_wrap=True
        )
    if text:
        write_stdout(text)


@ledger_app.command("show")
def show(
    ledger: LedgerOpt,
    index: Annotated[int | None, typer.Argument(help="Entry index to print (default: the tree head).")] = None,
) -> None:
    """Print the tree head (size, root, latest checkpoint) or one entry's record."""
    with reported(ledger), _open(ledger) as log:
        if index is not None:
            write_stdout(log.record(index).decode())
            return
        size = log.size
        info = {
            "origin": log.origin,
            "size": size,
            "root": log.root(size).hex(),
            "segment_entries": 1 << log.segment_bits,
            "pruned_segments": log.backend.pruned(),
        }
        cp = log.latest_checkpoint()
    for k, v in info.items():
        console.print(f"{k}: {v}", markup=False, soft_wrap=True)
    console.print("latest checkpoint:" + ("" if cp else " none"), markup=False, soft_wrap=True)
    if cp:
        write_stdout(cp[1])


@ledger_app.command("prove")
def prove(
    ledger: LedgerOpt,
    index: Annotated[int | None, typer.Argument(help="Entry to prove included.")] = None,
    size: Annotated[int | None, typer.Option("--size", help="Tree size (default: newest checkpoint).")] = None,
    old: Annotated[int | None, typer.Option("--from", help="Consistency proof from this older size.")] = None,
    new: Annotated[int | None, typer.Option("--to", help="… to this size (default: now).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the JSON bundle here.")] = None,
) -> None:
    """Print an inclusion proof bundle for INDEX, or a consistency proof with --from."""
    from synthguard.errors import InputError
    from synthguard.ledger.evidence import Evidence

    with reported(ledger), _open(ledger) as log:
        if old is not None:
            new_size = log.size if new is None else new
            bundle: dict[str, Any] = {
                "format": "synthguard-ledger-consistency/1",
                "old_size": old,
                "new_size": new_size,
                "old_root": log.root(old).hex(),
                "new_root": log.root(new_size).hex(),
                "proof": [h.hex() for h in log.consistency_proof(old, new_size)],
            }
        elif index is None:
            raise InputError("give an entry INDEX or --from SIZE")
        elif size is None:
            bundle = log.evidence(index).to_json()
        else:
            cps = log.backend.checkpoints(size)
            ev = Evidence(index, log.record(index), size, log.inclusion_proof(index, size), cps[0][1] if cps else None)
            bundle = ev.to_json()
    _emit(bundle, out)


@ledger_app.command("verify")
def verify(
    ledger: Annotated[
        str | None, typer.Option("--ledger", "-l", envvar="SYNTHGUARD_LEDGER", help="Audit this whole ledger.")
    ] = None,
    proof: Annotated[Path | None, typer.Option("--proof", help="Check a proof bundle offline.")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A checkpoint kept earlier: the log must still extend it.")
    ] = None,
    key: KeyOpt = [],  # noqa: B006
) -> None:
    """Audit a ledger (recompute every hash, check checkpoints) or check a proof bundle with public keys."""
    from synthguard.errors import InputError
    from synthguard.fileio import read_input

    verifiers = _verifiers(key)
    witness = read_input(checkpoint, limit=1 << 20).decode("utf-8", "replace") if checkpoint else None
    if proof is not None:
        with reported(str(proof)):
            _verify_bundle(read_input(proof, limit=1 << 24), verifiers, witness)
        return
    if ledger is None:
        with reported():
            raise InputError("give --ledger to audit, or --proof to check a bundle")
    with reported(ledger), _open(ledger) as log:
        report = log.audit(verifiers, witness=witness)
    signed = "signatures checked" if verifiers else "signatures not checked (no --key)"
    console.print(
        f"ok: {report['size']} entries, root {report['root']}, {report['checkpoints']} checkpoints ({signed}), "
        f"pruned segments {report['pruned_segments'] or 'none'}",
        markup=False,
        soft_wrap=True,
    )


def _verify_bundle(data: bytes, verifiers: list[Verifier], witness: str | None) -> None:
    from synthguard.errors import CorruptInput, InputError
    from synthguard.ledger import verify_checkpoint, verify_consistency
    from synthguard.ledger.evidence import Evidence

    try:
        obj = json.loads(data)
    except ValueError:
        raise CorruptInput("proof bundle is not JSON") from None
    if isinstance(obj, dict) and obj.get("format") == "synthguard-ledger-consistency/1":
        try:
            old, new = int(obj["old_size"]), int(obj["new_size"])
            r1, r2 = bytes.fromhex(obj["old_root"]), bytes.fromhex(obj["new_root"])
            path = [bytes.fromhex(h) for h in obj["proof"]]
        except (KeyError, TypeError, ValueError):
            raise CorruptInput("consistency bundle is malformed") from None
        verify_consistency(old, new, r1, r2, path)
        if witness is not None:
            if not verifiers:
                raise InputError("checking a checkpoint needs --key")
            cp = verify_checkpoint(witness, verifiers)
            if (cp.size, cp.root) not in ((old, r1), (new, r2)):
                raise CorruptInput("the checkpoint matches neither tree head of the consistency proof")
        console.print(f"ok: the tree of size {old} is a prefix of the tree of size {new}", markup=False, soft_wrap=True)
        return
    if not verifiers:
        raise InputError("checking a proof bundle needs the log's public key (--key)")
    ev = Evidence.from_json(obj)
    record = ev.verify(verifiers)
    console.print(f"ok: entry {ev.index} is in the signed log of size {ev.size}", markup=False, soft_wrap=True)
    write_stdout(json.dumps(record.to_json(), ensure_ascii=False))


@ledger_app.command("checkpoint")
def checkpoint_cmd(
    ledger: LedgerOpt,
    key: KeyOpt = [],  # noqa: B006
    name: Annotated[str | None, typer.Option("--name", help="Key name (default: the log origin).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the checkpoint here.")] = None,
) -> None:
    """Sign the current tree head with --key (Ed25519 or SM2) as a C2SP checkpoint and print it."""
    from synthguard.errors import InputError

    signers = _signers(key)
    with reported(ledger):
        if not signers:
            raise InputError("signing a checkpoint needs --key PEM")
        with _open(ledger) as log:
            text = log.sign_checkpoint(signers, name)
    if out is not None:
        from synthguard.fileio import write_atomic

        with reported(str(out)):
            write_atomic(out, text.encode())
    write_stdout(text)


@ledger_app.command("find")
def find(
    ledger: LedgerOpt,
    produce_id: Annotated[str | None, typer.Option("--produce-id", help="ProduceID from a label.")] = None,
    content_hash: Annotated[str | None, typer.Option("--content-hash", help="sha256:<hex>.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Find by this file's SHA-256.")] = None,
    watermark: Annotated[str | None, typer.Option("--watermark", help="Watermark payload (hex).")] = None,
) -> None:
    """Find entries by ProduceID, content hash or watermark payload; prints each with its proof bundle."""
    with reported(ledger):
        if file is not None:
            content_hash = _file_hash(file)
        with _open(ledger) as log:
            found = log.lookup(produce_id=produce_id, content_hash=content_hash, watermark=watermark)
    if not found:
        console.print("no matching entries", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    for ev in found:
        write_stdout(json.dumps(ev.to_json(), ensure_ascii=False))


@ledger_app.command("prune")
def prune(
    ledger: LedgerOpt,
    days: Annotated[float, typer.Option("--retention-days", help="Keep at least this many days.")] = 200,
) -> None:
    """Drop whole segments older than the retention period (their hashes stay; each prune is logged)."""
    with reported(ledger), _open(ledger) as log:
        done = log.prune(days)
    console.print(f"pruned segments: {done or 'none'}", markup=False, soft_wrap=True)


@ledger_app.command("migrate")
def migrate(ledger: LedgerOpt) -> None:
    """Upgrade a format-1 ledger (one lookup-key slice per segment) to merged key runs, in one transaction."""
    with reported(ledger), _open(ledger) as log:
        changed = log.migrate()
    console.print("migrated to merged lookup runs" if changed else "already current", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `synthguard ledger …`."""
    app.add_typer(ledger_app, name="ledger")
