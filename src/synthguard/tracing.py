"""Tracing a file to its generation record in the ledger, and logging a generation before release."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from synthguard.errors import LedgerError, SignatureInvalid, SynthguardError
from synthguard.label.keys import PublicKey, SigningKey
from synthguard.label.model import AigcLabel
from synthguard.ledger import Ledger, ProofError, generation
from synthguard.ledger.signer import signer_for, verifier_for


def file_hash(data: bytes) -> str:
    """The content hash a generation record stores for a released file."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def trace(
    ledger: Ledger, labels: Iterable[AigcLabel], data: bytes, keys: Iterable[PublicKey], watermark: str | None = None
) -> dict[str, Any]:
    """Look the file up by ProduceID, watermark payload and file hash; verify each entry's proof and checkpoint."""
    verifiers = [verifier_for(k) for k in keys]
    seen: dict[int, dict[str, Any]] = {}
    queries: list[tuple[str, dict[str, str]]] = [
        ("produce_id", {"produce_id": lab.produce_id}) for lab in labels if lab.produce_id
    ]
    if watermark:
        queries.append(("watermark", {"watermark_payload": watermark}))
    queries.append(("content_hash", {"content_hash": file_hash(data)}))
    for how, query in queries:
        for ev in ledger.lookup(
            produce_id=query.get("produce_id"),
            content_hash=query.get("content_hash"),
            watermark=query.get("watermark_payload"),
        ):
            if ev.index in seen:
                seen[ev.index]["matched_by"].append(how)
                continue
            entry: dict[str, Any] = {"index": ev.index, "matched_by": [how], "record": ev.decoded().to_json()}
            try:
                ev.verify(verifiers)
                entry["proof"] = "verified"
            except (ProofError, SignatureInvalid) as exc:
                entry["proof"] = f"failed: {exc.message}"
            except SynthguardError as exc:
                entry["proof"] = f"unverifiable: {exc.message}"
            seen[ev.index] = entry
    entries = sorted(seen.values(), key=lambda e: int(e["index"]))
    return {
        "found": bool(entries),
        "verified": any(e["proof"] == "verified" for e in entries),
        "entries": entries,
        "note": "" if verifiers else "no --trust key given: checkpoints cannot be verified",
    }


def log_generation(
    ledger: Ledger,
    label: AigcLabel,
    data: bytes,
    *,
    user: str,
    watermark: str | None = None,
    review: str = "pass",
    signer: SigningKey | None = None,
) -> int:
    """Durably append the generation record of a labeled file (before it is released); returns its index."""
    record = generation(
        produce_id=label.produce_id,
        producer=label.content_producer,
        content_hash=file_hash(data),
        user=user,
        label=label.fields(),
        watermark=watermark,
        review=review,
    )
    try:
        (index,) = ledger.append([record])
    except ValueError:
        raise LedgerError("the ledger did not acknowledge the append") from None
    if signer is not None:
        ledger.sign_checkpoint([signer_for(signer)])
    return index
