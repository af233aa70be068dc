"""Signed tree heads in the C2SP tlog-checkpoint text form, signed as C2SP signed notes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from synthguard.errors import CorruptInput, SignatureInvalid
from synthguard.ledger.merkle import HASH_SIZE
from synthguard.ledger.signer import ED25519, SM2, Signer, Verifier

DASH = "\u2014 "
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
# Signature type bytes hashed into the 4-byte key hint: 0x01 is Ed25519 in C2SP signed-note;
# SM2 has no assigned byte, so synthguard uses the reserved 0xff followed by a private name.
SIGNATURE_TYPES = {ED25519: b"\x01", SM2: b"\xffsynthguard/sm2-sm3"}
_NAME = re.compile(r"^[^\s+]+$")


def key_hash(name: str, verifier: Verifier) -> bytes:
    """The 4-byte key hint of a signature line: SHA-256(name || LF || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + SIGNATURE_TYPES[verifier.algorithm] + verifier.public_key).digest()[
        :4
    ]


def vkey(name: str, verifier: Verifier) -> str:
    """A verifier key string in the note form name+hex(hint)+base64(type || public key)."""
    raw = SIGNATURE_TYPES[verifier.algorithm] + verifier.public_key
    return f"{name}+{key_hash(name, verifier).hex()}+{base64.b64encode(raw).decode()}"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin line, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()
    signatures: tuple[tuple[str, bytes, bytes], ...] = field(default=(), compare=False)

    def body(self) -> str:
        """The signed text: origin, size, base64 root, extensions, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    def sign(self, signers: Sequence[Signer], name: str | None = None) -> str:
        """The signed note text: body, a blank line, one signature line per signer."""
        name = name or self.origin
        if not _NAME.fullmatch(name):
            raise SignatureInvalid(f"key name {name!r} must be non-empty with no spaces or '+'")
        msg = self.body().encode()
        lines = []
        for s in signers:
            sig = key_hash(name, s) + s.sign(msg)
            lines.append(f"{DASH}{name} {base64.b64encode(sig).decode()}\n")
        return self.body() + "\n" + "".join(lines)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CorruptInput(f"checkpoint {what} is not valid base64") from None


def parse(text: str) -> Checkpoint:
    """Parse a signed checkpoint without checking signatures (use verify for that)."""
    if len(text.encode()) > MAX_NOTE_BYTES:
        raise CorruptInput("checkpoint is larger than 1 MiB")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise CorruptInput("checkpoint has no blank line before its signatures")
    body, sigs = text[: cut + 1], text[cut + 2 :]
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise CorruptInput("checkpoint body needs an origin, a size and a root hash")
    origin, size_text, root_text, *ext = lines
    if not origin or not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text):
        raise CorruptInput("checkpoint has an empty origin or a malformed tree size")
    root = _b64(root_text, "root hash")
    if len(root) != HASH_SIZE:
        raise CorruptInput(f"checkpoint root hash has {len(root)} bytes, not {HASH_SIZE}")
    if not sigs.endswith("\n"):
        raise CorruptInput("checkpoint signature block does not end with a newline")
    parsed: list[tuple[str, bytes, bytes]] = []
    for line in sigs[:-1].split("\n"):
        m = re.fullmatch(r"\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)", line)
        if not m:
            raise CorruptInput(f"malformed checkpoint signature line {line[:40]!r}")
        raw = _b64(m.group(2), "signature")
        if len(raw) < 5:
            raise CorruptInput("checkpoint signature is too short")
        parsed.append((m.group(1), raw[:4], raw[4:]))
    if not parsed or len(parsed) > MAX_SIGNATURES:
        raise CorruptInput(f"checkpoint must have 1-{MAX_SIGNATURES} signatures")
    return Checkpoint(origin, int(size_text), root, tuple(ext), tuple(parsed))


def verify(text: str, verifiers: Iterable[Verifier], name: str | None = None) -> Checkpoint:
    """Parse a checkpoint and require a valid signature by at least one given key; reject bad known ones."""
    cp = parse(text)
    msg = cp.body().encode()
    keys = list(verifiers)
    trusted = 0
    for sig_name, hint, sig in cp.signatures:
        for v in keys:
            want = name or cp.origin
            if sig_name != want or hint != key_hash(want, v):
                continue
            if not v.verify(msg, sig):
                raise SignatureInvalid(f"checkpoint signature by {sig_name} ({v.algorithm}) does not verify")
            trusted += 1
    if not trusted:
        seen = ", ".join(f"{n}/{h.hex()}" for n, h, _ in cp.signatures)
        mine = ", ".join(f"{name or cp.origin}/{key_hash(name or cp.origin, v).hex()}" for v in keys)
        raise SignatureInvalid(f"checkpoint is not signed by the given key (signed by {seen}; expected {mine})")
    return cp
