"""Evidence bundles: an entry, its inclusion proof and the signed checkpoint it leads to; offline checks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from synthguard.errors import CorruptInput, SignatureInvalid
from synthguard.ledger import checkpoint as cpmod
from synthguard.ledger.merkle import ProofError, leaf_hash, root_from_inclusion
from synthguard.ledger.record import Record
from synthguard.ledger.signer import Verifier

BUNDLE_FORMAT = "synthguard-ledger-proof/1"


@dataclass(frozen=True)
class Evidence:
    """What a third party needs to check an entry: record bytes, index, tree size, path, checkpoint."""

    index: int
    record: bytes
    size: int
    proof: list[bytes]
    checkpoint: str | None

    @property
    def leaf_hash(self) -> bytes:
        """RFC 9162 leaf hash of the record."""
        return leaf_hash(self.record)

    def decoded(self) -> Record:
        """The record as a Record."""
        return Record.decode(self.record)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready proof bundle."""
        return {
            "format": BUNDLE_FORMAT,
            "index": self.index,
            "size": self.size,
            "record": self.record.decode(),
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.proof],
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Evidence:
        """Parse a proof bundle, refusing malformed ones with a one-line error."""
        try:
            if obj.get("format") != BUNDLE_FORMAT:
                raise CorruptInput(f"not a {BUNDLE_FORMAT} bundle")
            index, size = obj["index"], obj["size"]
            if not isinstance(index, int) or not isinstance(size, int) or index < 0 or size <= index:
                raise CorruptInput("proof bundle has an invalid index or size")
            proof = [bytes.fromhex(h) for h in obj["proof"]]
            cp = obj.get("checkpoint")
            if cp is not None and not isinstance(cp, str):
                raise CorruptInput("proof bundle checkpoint must be text")
            return cls(index, str(obj["record"]).encode(), size, proof, cp)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CorruptInput("proof bundle is malformed (index, size, record, proof, checkpoint)") from None

    @classmethod
    def loads(cls, text: str | bytes) -> Evidence:
        """Parse a proof bundle from JSON text."""
        try:
            return cls.from_json(json.loads(text))
        except ValueError:
            raise CorruptInput("proof bundle is not JSON") from None

    def verify(self, verifiers: Iterable[Verifier], origin: str | None = None) -> Record:
        """Check signature, head and path with only public keys; return the proven record or raise."""
        if self.checkpoint is None:
            raise SignatureInvalid(f"no signed checkpoint covers entry {self.index} yet; sign one and prove again")
        cp = cpmod.verify(self.checkpoint, verifiers)
        if origin is not None and cp.origin != origin:
            raise SignatureInvalid(f"checkpoint is for log {cp.origin!r}, not {origin!r}")
        if cp.size != self.size:
            raise ProofError(f"the proof is for tree size {self.size} but the checkpoint signs size {cp.size}")
        if root_from_inclusion(self.index, self.size, self.leaf_hash, self.proof) != cp.root:
            raise ProofError(f"inclusion proof for entry {self.index} does not lead to the signed root")
        return self.decoded()
