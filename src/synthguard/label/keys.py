"""Signing keys (SM2-with-SM3 via gmssl, Ed25519 via cryptography): generate, load, save as PEM, sign, verify."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synthguard.errors import KeyError_
from synthguard.label import der

SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
SM2_G = (
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
)


class Algorithm(StrEnum):
    """Signature algorithms, with their OIDs and the digest used for content bindings."""

    SM2 = "sm2"
    ED25519 = "ed25519"

    @property
    def oid(self) -> str:
        """The signature algorithm OID (SM2withSM3 or Ed25519)."""
        return "1.2.156.10197.1.501" if self is Algorithm.SM2 else "1.3.101.112"

    @property
    def digest_oid(self) -> str:
        """The OID of the content digest paired with this algorithm (SM3 or SHA-256)."""
        return DIGEST_OIDS["sm3"] if self is Algorithm.SM2 else DIGEST_OIDS["sha256"]

    @classmethod
    def from_oid(cls, value: str) -> Algorithm:
        """The algorithm for a signature OID."""
        for alg in cls:
            if alg.oid == value:
                return alg
        raise KeyError_(f"unknown signature algorithm OID {value!r}")


DIGEST_OIDS = {"sm3": "1.2.156.10197.1.401", "sha256": "2.16.840.1.101.3.4.2.1"}


def new_digest(digest_oid: str) -> hashes.Hash:
    """A streaming digest for a digest OID (SM3 through OpenSSL, SHA-256)."""
    if digest_oid == DIGEST_OIDS["sm3"]:
        return hashes.Hash(hashes.SM3())
    if digest_oid == DIGEST_OIDS["sha256"]:
        return hashes.Hash(hashes.SHA256())
    raise KeyError_(f"unknown digest OID {digest_oid!r}")


def _sm2(secret_hex: str = "", point_hex: str = "") -> object:
    from gmssl import sm2

    crypt = sm2.CryptSM2(private_key=secret_hex, public_key="")
    # gmssl's constructor lstrips "0"/"4" characters off the key; set the point directly instead.
    crypt.public_key = point_hex
    return crypt


@dataclass(frozen=True)
class PublicKey:
    """A verification key; its key_id is a digest of the raw key bytes."""

    algorithm: Algorithm
    raw: bytes

    @property
    def key_id(self) -> str:
        """16 hex characters identifying the key (SM3 or SHA-256 of the raw key)."""
        h = new_digest(self.algorithm.digest_oid)
        h.update(self.raw)
        return h.finalize()[:8].hex()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if the signature over the message is valid for this key."""
        if self.algorithm is Algorithm.ED25519:
            try:
                Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
            except (InvalidSignature, ValueError):
                return False
            return True
        if len(signature) != 64 or len(self.raw) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (0 < r < SM2_N and 0 < s < SM2_N):
            return False
        crypt = _sm2(point_hex=self.raw.hex())
        try:
            return bool(crypt.verify_with_sm3(signature.hex(), message))  # type: ignore[attr-defined]
        except (ValueError, TypeError, ZeroDivisionError):
            return False

    def to_pem(self) -> str:
        """SubjectPublicKeyInfo PEM."""
        if self.algorithm is Algorithm.ED25519:
            key = Ed25519PublicKey.from_public_bytes(self.raw)
            return key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
        return _pem("PUBLIC KEY", der.sm2_public_der(self.raw))

    @classmethod
    def from_pem(cls, text: str | bytes) -> PublicKey:
        """Load a public key (or derive it from a private key) from PEM."""
        body = text.decode("ascii", "replace") if isinstance(text, bytes) else text
        if "PRIVATE KEY" in body and "PUBLIC KEY" not in body:
            return SigningKey.from_pem(body).public
        blob = _unpem(body, "PUBLIC KEY")
        try:
            return cls(Algorithm.SM2, der.parse_sm2_public(blob))
        except KeyError_:
            pass
        try:
            key = serialization.load_der_public_key(blob)
        except (ValueError, TypeError):
            raise KeyError_("not an SM2 or Ed25519 public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyError_("only SM2 and Ed25519 keys are supported")
        return cls(Algorithm.ED25519, key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@dataclass(frozen=True)
class SigningKey:
    """A private signing key; repr never shows the secret."""

    algorithm: Algorithm
    secret: bytes = field(repr=False)
    public: PublicKey

    @classmethod
    def generate(cls, algorithm: Algorithm | str = Algorithm.SM2) -> SigningKey:
        """A fresh key from the operating system's CSPRNG."""
        alg = Algorithm(algorithm)
        if alg is Algorithm.ED25519:
            return cls._ed25519(Ed25519PrivateKey.generate())
        d = secrets.randbelow(SM2_N - 2) + 1
        secret = d.to_bytes(32, "big")
        point = bytes.fromhex(_sm2(secret.hex())._kg(d, SM2_G))  # type: ignore[attr-defined]
        return cls(alg, secret, PublicKey(alg, point))

    @classmethod
    def from_secret(cls, algorithm: Algorithm | str, secret: bytes, point: bytes | None = None) -> SigningKey:
        """A key from its raw secret (SM2: 32-byte scalar; Ed25519: 32-byte seed), checking a given point."""
        alg = Algorithm(algorithm)
        if len(secret) != 32:
            raise KeyError_(f"a {alg.value} private key has 32 bytes, not {len(secret)}")
        if alg is Algorithm.ED25519:
            return cls._ed25519(Ed25519PrivateKey.from_private_bytes(secret))
        d = int.from_bytes(secret, "big")
        if not 1 <= d < SM2_N - 1:
            raise KeyError_("SM2 private key is out of range")
        derived = bytes.fromhex(_sm2(secret.hex())._kg(d, SM2_G))  # type: ignore[attr-defined]
        if point is not None and point != derived:
            raise KeyError_("SM2 private key's public point does not match its secret")
        return cls(alg, secret, PublicKey(alg, derived))

    @classmethod
    def _ed25519(cls, key: Ed25519PrivateKey) -> SigningKey:
        secret = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(Algorithm.ED25519, secret, PublicKey(Algorithm.ED25519, pub))

    def sign(self, message: bytes) -> bytes:
        """Sign a message (SM2: 64-byte r||s over SM3 with the default user id; Ed25519: 64 bytes)."""
        if self.algorithm is Algorithm.ED25519:
            return Ed25519PrivateKey.from_private_bytes(self.secret).sign(message)
        crypt = _sm2(self.secret.hex(), self.public.raw.hex())
        nonce = format(secrets.randbelow(SM2_N - 1) + 1, "064x")
        return bytes.fromhex(crypt.sign_with_sm3(message, nonce))  # type: ignore[attr-defined]

    def to_pem(self) -> str:
        """Unencrypted PKCS#8 PEM (protect the file with permissions)."""
        if self.algorithm is Algorithm.ED25519:
            key = Ed25519PrivateKey.from_private_bytes(self.secret)
            return key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
        return _pem("PRIVATE KEY", der.sm2_private_der(self.secret, self.public.raw))

    @classmethod
    def from_pem(cls, text: str | bytes) -> SigningKey:
        """Load an SM2 or Ed25519 PKCS#8 private key, or an SM2 SEC1 "EC PRIVATE KEY" (openssl ecparam)."""
        body = text.decode("ascii", "replace") if isinstance(text, bytes) else text
        if "ENCRYPTED PRIVATE KEY" in body:
            raise KeyError_("encrypted private keys are not supported; decrypt it first")
        if "-----BEGIN EC PRIVATE KEY-----" in body:
            return cls.from_secret(Algorithm.SM2, *der.parse_sm2_sec1(_unpem(body, "EC PRIVATE KEY")))
        blob = _unpem(body, "PRIVATE KEY")
        try:
            secret, point = der.parse_sm2_private(blob)
        except KeyError_:
            pass
        else:
            return cls.from_secret(Algorithm.SM2, secret, point)
        try:
            key = serialization.load_der_private_key(blob, password=None)
        except (ValueError, TypeError):
            raise KeyError_("not an SM2 or Ed25519 private key (or it is encrypted)") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyError_("only SM2 and Ed25519 keys are supported")
        return cls._ed25519(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SigningKey:
        """Load a private key file, naming the file in any error."""
        try:
            return cls.from_pem(Path(path).read_bytes())
        except OSError as exc:
            raise KeyError_(f"cannot read key: {exc.strerror}", path=str(path)) from None
        except KeyError_ as exc:
            raise exc.at(str(path)) from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private key PEM with mode 0600, refusing to overwrite."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyError_("refusing to overwrite an existing key file", path=str(path)) from None
        except OSError as exc:
            raise KeyError_(f"cannot write key: {exc.strerror}", path=str(path)) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(self.to_pem())


def _pem(label: str, blob: bytes) -> str:
    b64 = base64.encodebytes(blob).decode().replace("\n", "")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def _unpem(text: str, label: str) -> bytes:
    m = re.search(rf"-----BEGIN {label}-----(.*?)-----END {label}-----", text, re.S)
    if not m:
        raise KeyError_(f"no PEM {label} block found")
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except ValueError:
        raise KeyError_("PEM block is not valid base64") from None


def fingerprint(data: bytes) -> str:
    """SHA-256 hex of some bytes (for logs; never of secrets)."""
    return hashlib.sha256(data).hexdigest()
