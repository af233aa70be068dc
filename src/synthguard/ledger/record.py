"""Ledger records: the generation record and other governance events, canonical bytes and lookup keys."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from synthguard.errors import InputError

RECORD_VERSION = 1
GENERATION = "generation"
PRUNE = "prune"

# Which record fields are indexed for lookup, and the one-byte tag that keeps their key spaces apart.
KEY_FIELDS = {"produce_id": b"p", "content_hash": b"c", "watermark": b"w"}

_PSEUDONYM = re.compile(r"^[A-Za-z0-9_.:\-]{6,128}$")
_RAW_ID = re.compile(r"^(\+?86)?1[3-9]\d{9}$|^\d{17}[\dXx]$|^\d{15}$|@")
_HEX = re.compile(r"^[0-9a-f]+$")
_HASH = re.compile(r"^(sha256|sm3):[0-9a-f]{64}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_.\-]{0,63}$")
MAX_RECORD_BYTES = 64 * 1024


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(obj: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8; the exact leaf input hashed into the tree."""
    return _ENCODER.encode(obj).encode()


def parse_time(value: str | datetime | None) -> datetime:
    """A timezone-aware UTC time from an ISO 8601 string or datetime (now when None)."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"time {value!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise InputError("time must carry a time zone (use UTC)")
    return value.astimezone(UTC)


def format_time(t: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z."""
    if t.utcoffset():
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def lookup_key(field_name: str, value: str) -> int:
    """The signed 64-bit index key of a field value (a hash prefix; matches are confirmed on the record)."""
    digest = hashlib.blake2b(KEY_FIELDS[field_name] + value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def normalise_hash(value: str) -> str:
    """A content hash as 'sha256:<hex>' (bare 64-hex digests are taken as SHA-256)."""
    v = value.strip().lower()
    if re.fullmatch(r"[0-9a-f]{64}", v):
        v = "sha256:" + v
    if not _HASH.fullmatch(v):
        raise InputError(f"content hash {value!r} is not 'sha256:<64 hex>' or 'sm3:<64 hex>'")
    return v


def normalise_payload(value: str) -> str:
    """A watermark payload as lower-case hex."""
    v = value.strip().lower().removeprefix("0x")
    if not v or len(v) > 256 or len(v) % 2 or not _HEX.fullmatch(v):
        raise InputError(f"watermark payload {value!r} is not an even-length hex string of at most 128 bytes")
    return v


def check_pseudonym(value: str) -> str:
    """Refuse anything that looks like raw personal data (phone, resident ID, e-mail) instead of a pseudonym."""
    if _RAW_ID.search(value):
        raise InputError("user must be a pseudonym, not a phone number, resident ID or e-mail address")
    if not _PSEUDONYM.fullmatch(value):
        raise InputError("user pseudonym must be 6-128 characters of letters, digits and _.:-")
    return value


@dataclass(frozen=True)
class Record:
    """One ledger entry's content: a type, a time and type-specific fields; encoded canonically."""

    type: str
    time: datetime
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object that is hashed into the tree."""
        return {"v": RECORD_VERSION, "type": self.type, "time": format_time(self.time), **self.fields}

    def encode(self) -> bytes:
        """Canonical bytes (the leaf input)."""
        data = canonical(self.to_json())
        if len(data) > MAX_RECORD_BYTES:
            raise InputError(f"record is {len(data)} bytes; the limit is {MAX_RECORD_BYTES}")
        return data

    @property
    def timestamp(self) -> int:
        """Seconds since the epoch (for retention)."""
        return int(self.time.timestamp())

    def keys(self) -> list[int]:
        """Lookup keys of the indexed fields this record carries."""
        return [lookup_key(f, str(self.fields[f])) for f in KEY_FIELDS if self.fields.get(f)]

    @classmethod
    def decode(cls, data: bytes) -> Record:
        """Parse stored canonical bytes back into a Record."""
        try:
            obj = json.loads(data)
            rtype = obj.pop("type")
            t = parse_time(obj.pop("time"))
            obj.pop("v", None)
        except (ValueError, KeyError, TypeError, InputError, AttributeError):
            raise InputError("stored record is not a valid ledger record") from None
        return cls(str(rtype), t, obj)


def generation(
    *,
    produce_id: str,
    producer: str,
    content_hash: str,
    user: str,
    time: str | datetime | None = None,
    label: str | Mapping[str, Any] | None = None,
    watermark: str | None = None,
    review: str = "pass",
    inputs: list[str] | None = None,
) -> Record:
    """A generation record: who produced what, its hash, label, watermark payload and review decision."""
    if not produce_id or len(produce_id) > 256:
        raise InputError("produce_id must be 1-256 characters")
    if not producer or len(producer) > 64:
        raise InputError("producer must be 1-64 characters")
    if not re.fullmatch(r"[a-z_]{1,32}", review):
        raise InputError(f"review decision {review!r} must be a short lower-case word (pass, block, edit…)")
    fields: dict[str, Any] = {
        "produce_id": produce_id,
        "producer": producer,
        "content_hash": normalise_hash(content_hash),
        "user": check_pseudonym(user),
        "review": review,
    }
    if label is not None:
        fields["label"] = label if isinstance(label, str) else dict(label)
    if watermark:
        fields["watermark"] = normalise_payload(watermark)
    if inputs:
        fields["inputs"] = [normalise_hash(h) for h in inputs]
    return Record(GENERATION, parse_time(time), fields)


def event(rtype: str, fields: Mapping[str, Any], time: str | datetime | None = None) -> Record:
    """Any other governance event (consent, complaint, prune…) in the same log."""
    if not _TYPE.fullmatch(rtype):
        raise InputError(f"event type {rtype!r} must be a short lower-case name")
    bad = {"v", "type", "time"} & set(fields)
    if bad:
        raise InputError(f"event fields may not be named {sorted(bad)}")
    if "user" in fields:
        check_pseudonym(str(fields["user"]))
    return Record(rtype, parse_time(time), dict(fields))
