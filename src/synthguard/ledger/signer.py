"""Checkpoint signers: a small Protocol the log signs and verifies through, backed by synthguard.label.keys.

The keys themselves (Ed25519 via cryptography, SM2-with-SM3 via gmssl, PEM files) live in label/keys.py;
this adapter only adds the ledger's algorithm names and key ids, which appear in signed checkpoints.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

from synthguard.errors import KeyError_
from synthguard.label.keys import Algorithm, PublicKey, SigningKey

ED25519 = "ed25519"
SM2 = "sm2-sm3"


@runtime_checkable
class Verifier(Protocol):
    """Checks signatures made by one public key."""

    algorithm: str
    key_id: str
    public_key: bytes

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True when sig is a valid signature of msg by this key."""
        ...


@runtime_checkable
class Signer(Verifier, Protocol):
    """Signs with one private key; also verifies."""

    def sign(self, msg: bytes) -> bytes:
        """Signature of msg."""
        ...


def _fingerprint(algorithm: str, public_key: bytes) -> str:
    return hashlib.sha256(algorithm.encode() + b":" + public_key).hexdigest()[:16]


class _KeyVerifier:
    """A ledger verifier around a label.keys PublicKey."""

    algorithm: str

    def __init__(self, key: PublicKey, wire: bytes) -> None:
        self._key = key
        self.public_key = wire  # the bytes checkpoints and key ids use (SM2: 04||x||y)
        self.key_id = _fingerprint(self.algorithm, wire)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True when sig is a valid signature of msg."""
        return self._key.verify(msg, sig)


class Ed25519Verifier(_KeyVerifier):
    """Ed25519 public key (RFC 8032) verification."""

    algorithm = ED25519

    def __init__(self, public_key: bytes) -> None:
        """From the 32 raw public-key bytes."""
        if len(public_key) != 32:
            raise KeyError_(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
        super().__init__(PublicKey(Algorithm.ED25519, public_key), public_key)


class Sm2Verifier(_KeyVerifier):
    """SM2 signature verification with SM3 and the default user ID (GB/T 32918, GM/T 0009)."""

    algorithm = SM2

    def __init__(self, public_key: bytes) -> None:
        """From the 65-byte uncompressed point 04||x||y (or the 64 bytes x||y)."""
        if len(public_key) == 65 and public_key[0] == 4:
            public_key = public_key[1:]
        if len(public_key) != 64:
            raise KeyError_("an SM2 public key is an uncompressed point of 64 or 65 bytes")
        super().__init__(PublicKey(Algorithm.SM2, public_key), b"\x04" + public_key)


class _KeySigner:
    """Signing through a label.keys SigningKey."""

    _signing: SigningKey

    def sign(self, msg: bytes) -> bytes:
        """Signature of msg (SM2: 64-byte r||s with a CSPRNG nonce; Ed25519: 64 bytes)."""
        return self._signing.sign(msg)


class Ed25519Signer(_KeySigner, Ed25519Verifier):
    """Ed25519 private key signing."""

    def __init__(self, private_key: bytes) -> None:
        """From the 32 raw private-key (seed) bytes."""
        self._signing = SigningKey.from_secret(Algorithm.ED25519, private_key)
        Ed25519Verifier.__init__(self, self._signing.public.raw)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A fresh random key."""
        return cls(SigningKey.generate(Algorithm.ED25519).secret)


class Sm2Signer(_KeySigner, Sm2Verifier):
    """SM2-with-SM3 signing."""

    def __init__(self, private_key: bytes, public_key: bytes | None = None) -> None:
        """From the 32-byte private scalar (the public point is derived, and checked when given)."""
        point = public_key[1:] if public_key is not None and len(public_key) == 65 else public_key
        self._signing = SigningKey.from_secret(Algorithm.SM2, private_key, point)
        Sm2Verifier.__init__(self, self._signing.public.raw)

    @classmethod
    def generate(cls) -> Sm2Signer:
        """A fresh random key."""
        return cls(SigningKey.generate(Algorithm.SM2).secret)


def signer_for(key: SigningKey) -> Signer:
    """The ledger signer for a signing key."""
    return Ed25519Signer(key.secret) if key.algorithm is Algorithm.ED25519 else Sm2Signer(key.secret)


def verifier_for(key: PublicKey) -> Verifier:
    """The ledger verifier for a public key."""
    return Ed25519Verifier(key.raw) if key.algorithm is Algorithm.ED25519 else Sm2Verifier(key.raw)


def load_signer(pem: bytes | str) -> Signer:
    """A signer from a PEM private key (PKCS#8 Ed25519 or SM2, or SEC1 'EC PRIVATE KEY' on SM2)."""
    return signer_for(SigningKey.from_pem(pem))


def load_verifier(pem: bytes | str) -> Verifier:
    """A verifier from a PEM public key, or from a private key (its public half)."""
    return verifier_for(PublicKey.from_pem(pem))


def public_pem(verifier: Verifier) -> str:
    """The SubjectPublicKeyInfo PEM of a verifier's key (for handing to third parties)."""
    if verifier.algorithm == ED25519:
        return PublicKey(Algorithm.ED25519, verifier.public_key).to_pem()
    raw = verifier.public_key[1:] if len(verifier.public_key) == 65 else verifier.public_key
    return PublicKey(Algorithm.SM2, raw).to_pem()
