"""Tamper-evident generation ledger: RFC 9162 Merkle log, C2SP checkpoints, proofs, retention, lookup."""

from __future__ import annotations

from collections.abc import Iterable

from synthguard.ledger.checkpoint import Checkpoint
from synthguard.ledger.checkpoint import parse as parse_checkpoint
from synthguard.ledger.checkpoint import verify as verify_checkpoint
from synthguard.ledger.evidence import Evidence
from synthguard.ledger.log import DEFAULT_RETENTION_DAYS, Ledger
from synthguard.ledger.merkle import (
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from synthguard.ledger.record import Record, event, generation
from synthguard.ledger.signer import (
    Ed25519Signer,
    Ed25519Verifier,
    Signer,
    Sm2Signer,
    Sm2Verifier,
    Verifier,
    load_signer,
    load_verifier,
)


def lookup(
    store: Ledger | str,
    *,
    produce_id: str | None = None,
    content_hash: str | None = None,
    watermark_payload: str | None = None,
) -> list[Evidence]:
    """Entries for a ProduceID, content hash or watermark payload, each with its proof and checkpoint."""
    if isinstance(store, str):
        with Ledger.open(store) as ledger:
            return ledger.lookup(produce_id=produce_id, content_hash=content_hash, watermark=watermark_payload)
    return store.lookup(produce_id=produce_id, content_hash=content_hash, watermark=watermark_payload)


def verify_evidence(evidence: Evidence, verifiers: Iterable[Verifier]) -> Record:
    """Check one evidence bundle offline with only public keys; returns the proven record or raises."""
    return evidence.verify(verifiers)


__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "Checkpoint",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Evidence",
    "Ledger",
    "ProofError",
    "Record",
    "Signer",
    "Sm2Signer",
    "Sm2Verifier",
    "Verifier",
    "event",
    "generation",
    "leaf_hash",
    "load_signer",
    "load_verifier",
    "lookup",
    "node_hash",
    "parse_checkpoint",
    "root_from_inclusion",
    "verify_checkpoint",
    "verify_consistency",
    "verify_evidence",
    "verify_inclusion",
]
