"""SecurityData in ReservedCode1/2: a signature over the label's fields bound to a digest of the content.

The TC260 security-protection guide's exact schema could not be checked; this module is the only place
that knows the layout, documented in docs/signing.md. The signed message is the role's three fields
serialised as `"Label":"1","ContentProducer":"…","ProduceID":"…"` followed by `,"Bindings":` and the
compact JSON of the Bindings list, so changing the label, the content or the binding breaks it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from synthguard.errors import KeyError_
from synthguard.label.keys import Algorithm, PublicKey, SigningKey, new_digest
from synthguard.label.model import AigcLabel

SECURITY_TYPE = "SecurityData"
SECURITY_VERSION = "1.0"
BINDING_TYPE = "ContentHash"


class Role(StrEnum):
    """Who signs: the producer (ReservedCode1) or a propagation platform (ReservedCode2)."""

    PRODUCER = "producer"
    PROPAGATOR = "propagator"


class SignatureStatus(StrEnum):
    """Outcome of checking one role's signature."""

    VALID_TRUSTED = "valid-trusted"
    VALID_UNKNOWN_KEY = "valid-unknown-key"
    INVALID = "invalid"
    ABSENT = "absent"
    UNRECOGNISED = "unrecognised"


@dataclass(frozen=True)
class SignatureCheck:
    """What verifying one role's security data found."""

    role: Role
    status: SignatureStatus
    algorithm: str | None = None
    key_id: str | None = None
    binding: bool | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "role": self.role.value,
            "status": self.status.value,
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "content_binding": self.binding,
            "detail": self.detail,
        }


@dataclass
class TrustStore:
    """Public keys pinned in configuration: the provider's own and known producers'."""

    keys: dict[bytes, PublicKey]

    @classmethod
    def of(cls, keys: Iterable[PublicKey]) -> TrustStore:
        """A store holding these keys."""
        return cls({k.raw: k for k in keys})

    def trusts(self, key: PublicKey) -> bool:
        """True if this exact key is pinned."""
        pinned = self.keys.get(key.raw)
        return pinned is not None and pinned.algorithm is key.algorithm


def role_fields(label: AigcLabel, role: Role) -> str:
    """The role's three fields serialised as the guide's signed message."""
    if role is Role.PRODUCER:
        pairs = (
            ("Label", label.label),
            ("ContentProducer", label.content_producer),
            ("ProduceID", label.produce_id),
        )
    else:
        pairs = (
            ("Label", label.label),
            ("ContentPropagator", label.content_propagator),
            ("PropagateID", label.propagate_id),
        )
    return ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs)


def content_digest(payload: Iterable[bytes], digest_oid: str) -> str:
    """Hex digest of the content payload chunks."""
    h = new_digest(digest_oid)
    for chunk in payload:
        h.update(chunk)
    return h.finalize().hex()


def _compact(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def _message(label: AigcLabel, role: Role, bindings: list[dict[str, str]]) -> bytes:
    return f'{role_fields(label, role)},"Bindings":{_compact(bindings)}'.encode()


def sign(label: AigcLabel, role: Role, payload: Iterable[bytes], key: SigningKey) -> str:
    """The SecurityData JSON string to put in the role's reserved code."""
    bindings = [
        {
            "Type": BINDING_TYPE,
            "AlgID": key.algorithm.digest_oid,
            "Value": content_digest(payload, key.algorithm.digest_oid),
        }
    ]
    message = _message(label, role, bindings)
    entry = {
        "Type": "DS",
        "KeyID": key.public.key_id,
        "AlgID": key.algorithm.oid,
        "KeyValue": key.public.raw.hex(),
        "TBSData": base64.b64encode(message).decode(),
        "Signature": key.sign(message).hex(),
    }
    return _compact({"Type": SECURITY_TYPE, "Version": SECURITY_VERSION, "Bindings": bindings, "PubSD": [entry]})


def signed_label(label: AigcLabel, role: Role, payload: Iterable[bytes], key: SigningKey) -> AigcLabel:
    """The label with the role's reserved code set to fresh security data (first write mirrors RC1 to RC2)."""
    if role is Role.PRODUCER:
        data = sign(label, role, payload, key)
        mirror = label.content_propagator == label.content_producer and label.propagate_id == label.produce_id
        return AigcLabel(
            label.label,
            label.content_producer,
            label.produce_id,
            data,
            label.content_propagator,
            label.propagate_id,
            data if mirror else label.reserved_code2,
        )
    data = sign(label, role, payload, key)
    return AigcLabel(
        label.label,
        label.content_producer,
        label.produce_id,
        label.reserved_code1,
        label.content_propagator,
        label.propagate_id,
        data,
    )


def _parse(code: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(code)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("Type") != SECURITY_TYPE or "Version" not in obj:
        return None
    return obj


def check(label: AigcLabel, role: Role, payload: Iterable[bytes] | None, trust: TrustStore | None) -> SignatureCheck:
    """Verify a role's security data against the label, the content payload and the pinned keys."""
    code = label.reserved_code1 if role is Role.PRODUCER else label.reserved_code2
    if not code:
        return SignatureCheck(role, SignatureStatus.ABSENT)
    obj = _parse(code)
    if obj is None:
        return SignatureCheck(role, SignatureStatus.UNRECOGNISED, detail="reserved code is not SecurityData JSON")
    entries = [e for e in obj.get("PubSD", []) if isinstance(e, dict) and e.get("Type") == "DS"]
    bindings = obj.get("Bindings", [])
    if not entries or not isinstance(bindings, list):
        return SignatureCheck(role, SignatureStatus.UNRECOGNISED, detail="SecurityData has no DS entry")
    entry = entries[0]
    try:
        alg = Algorithm.from_oid(str(entry.get("AlgID")))
        key = PublicKey(alg, bytes.fromhex(str(entry.get("KeyValue"))))
        signature = bytes.fromhex(str(entry.get("Signature")))
    except (KeyError_, ValueError):
        return SignatureCheck(role, SignatureStatus.INVALID, detail="malformed key or signature")
    base = SignatureCheck(role, SignatureStatus.INVALID, alg.value, key.key_id)
    message = _message(label, role, bindings)
    tbs = entry.get("TBSData")
    if tbs is not None:
        try:
            if base64.b64decode(str(tbs), validate=True) != message:
                return replace(
                    base,
                    status=SignatureStatus.INVALID,
                    detail="label fields differ from the signed data (label tampered)",
                )
        except (binascii.Error, ValueError):
            return replace(base, status=SignatureStatus.INVALID, detail="TBSData is not base64")
    if not key.verify(message, signature):
        return replace(base, status=SignatureStatus.INVALID, detail="signature does not verify")
    binding_ok: bool | None = None
    if payload is not None:
        binding_ok = _bindings_match(bindings, payload)
        if not binding_ok:
            return replace(
                base,
                status=SignatureStatus.INVALID,
                binding=False,
                detail="content does not match the signed content hash (content changed)",
            )
    trusted = trust is not None and trust.trusts(key)
    status = SignatureStatus.VALID_TRUSTED if trusted else SignatureStatus.VALID_UNKNOWN_KEY
    detail = "" if trusted else "signature valid, but the key is not pinned as trusted (integrity only)"
    return replace(base, status=status, binding=binding_ok, detail=detail)


def _bindings_match(bindings: list[Any], payload: Iterable[bytes]) -> bool:
    wanted = [b for b in bindings if isinstance(b, dict) and b.get("Type") == BINDING_TYPE]
    if not wanted:
        return False
    chunks = list(payload)
    for binding in wanted:
        try:
            if content_digest(chunks, str(binding.get("AlgID"))) != str(binding.get("Value")):
                return False
        except KeyError_:
            return False
    return True
