"""Checkpoint signers: a small Protocol with Ed25519 (cryptography) and SM2-with-SM3 (gmssl) behind it.

This is the one adapter module the lead's label/security.py keys will be wired to.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any, Protocol, runtime_checkable

from synthguard.errors import KeyError_

ED25519 = "ed25519"
SM2 = "sm2-sm3"

_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
_SM2_G = (
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
)
_OID_SM2_CURVE = bytes.fromhex("06082a811ccf5501822d")  # DER of 1.2.156.10197.1.301
_OID_ED25519 = bytes.fromhex("06032b6570")


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


class Ed25519Verifier:
    """Ed25519 public key (RFC 8032) verification."""

    algorithm = ED25519

    def __init__(self, public_key: bytes) -> None:
        """From the 32 raw public-key bytes."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if len(public_key) != 32:
            raise KeyError_(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
        self.public_key = public_key
        self._pub = Ed25519PublicKey.from_public_bytes(public_key)
        self.key_id = _fingerprint(self.algorithm, public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True when sig is a valid Ed25519 signature of msg."""
        from cryptography.exceptions import InvalidSignature

        try:
            self._pub.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


class Ed25519Signer(Ed25519Verifier):
    """Ed25519 private key signing."""

    def __init__(self, private_key: bytes) -> None:
        """From the 32 raw private-key (seed) bytes."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        if len(private_key) != 32:
            raise KeyError_(f"an Ed25519 private key has 32 bytes, not {len(private_key)}")
        self._priv = Ed25519PrivateKey.from_private_bytes(private_key)
        pub = self._priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        super().__init__(pub)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A fresh random key."""
        return cls(secrets.token_bytes(32))

    def sign(self, msg: bytes) -> bytes:
        """64-byte Ed25519 signature."""
        return self._priv.sign(msg)


def _sm2(private_hex: str, public_hex: str) -> Any:
    from gmssl import sm2

    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    # gmssl strips a leading "04" with lstrip, which eats key digits; set the x||y hex directly.
    crypt.public_key = public_hex
    return crypt


class Sm2Verifier:
    """SM2 signature verification with SM3 and the default user ID (GB/T 32918, GM/T 0009)."""

    algorithm = SM2

    def __init__(self, public_key: bytes) -> None:
        """From the 65-byte uncompressed point 04||x||y (or the 64 bytes x||y)."""
        if len(public_key) == 65 and public_key[0] == 4:
            public_key = public_key[1:]
        if len(public_key) != 64:
            raise KeyError_("an SM2 public key is an uncompressed point of 64 or 65 bytes")
        self.public_key = b"\x04" + public_key
        self._crypt = _sm2("", public_key.hex())
        self.key_id = _fingerprint(self.algorithm, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True when sig (r||s, 64 bytes) is a valid SM2-with-SM3 signature of msg."""
        if len(sig) != 64:
            return False
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        if not (0 < r < _SM2_N and 0 < s < _SM2_N):
            return False
        try:
            return bool(self._crypt.verify_with_sm3(sig.hex(), msg))
        except (ValueError, TypeError):
            return False


class Sm2Signer(Sm2Verifier):
    """SM2-with-SM3 signing."""

    def __init__(self, private_key: bytes, public_key: bytes | None = None) -> None:
        """From the 32-byte private scalar (the public point is derived when not given)."""
        d = int.from_bytes(private_key, "big")
        if len(private_key) != 32 or not 0 < d < _SM2_N - 1:
            raise KeyError_("an SM2 private key is a 32-byte scalar in [1, n-2]")
        if public_key is None:
            point = _sm2(private_key.hex(), "")._kg(d, _SM2_G)
            public_key = bytes.fromhex(point)
        super().__init__(public_key)
        self._crypt = _sm2(private_key.hex(), self.public_key[1:].hex())

    @classmethod
    def generate(cls) -> Sm2Signer:
        """A fresh random key."""
        return cls((secrets.randbelow(_SM2_N - 2) + 1).to_bytes(32, "big"))

    def sign(self, msg: bytes) -> bytes:
        """64-byte r||s SM2 signature over SM3(Z || msg), with a CSPRNG nonce (gmssl's default is not one)."""
        for _ in range(8):
            k = secrets.randbelow(_SM2_N - 1) + 1
            sig = self._crypt.sign_with_sm3(msg, f"{k:064x}")
            if sig:
                return bytes.fromhex(sig)
        raise KeyError_("SM2 signing failed repeatedly")


# --- PEM loading -----------------------------------------------------------------------------------


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    """Top-level TLV items of a DER byte string."""
    items: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise KeyError_("truncated DER in key file")
        tag, length = data[i], data[i + 1]
        i += 2
        if length & 0x80:
            nbytes = length & 0x7F
            if nbytes == 0 or nbytes > 4 or i + nbytes > len(data):
                raise KeyError_("bad DER length in key file")
            length = int.from_bytes(data[i : i + nbytes], "big")
            i += nbytes
        if i + length > len(data):
            raise KeyError_("truncated DER in key file")
        items.append((tag, data[i : i + length]))
        i += length
    return items


def _pem_blocks(text: str) -> list[tuple[str, bytes]]:
    blocks = re.findall(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", text, re.S)
    out = []
    for kind, body in blocks:
        try:
            out.append((kind, base64.b64decode("".join(body.split()), validate=True)))
        except ValueError:
            raise KeyError_(f"{kind} block is not valid base64") from None
    if not out:
        raise KeyError_("no PEM block found")
    return out


def _sm2_from_sec1(der: bytes) -> Sm2Signer:
    seq = _der_items(der)
    if len(seq) != 1 or seq[0][0] != 0x30:
        raise KeyError_("EC private key is not a DER sequence")
    fields = _der_items(seq[0][1])
    if len(fields) < 2 or fields[1][0] != 0x04:
        raise KeyError_("EC private key lacks its private scalar")
    params = [v for t, v in fields if t == 0xA0]
    if params and _OID_SM2_CURVE not in params[0]:
        raise KeyError_("EC private key is not on the SM2 curve")
    pub = [v for t, v in fields if t == 0xA1]
    point = None
    if pub:
        bits = _der_items(pub[0])
        if bits and bits[0][0] == 0x03:
            point = bits[0][1][1:]
    scalar = fields[1][1].rjust(32, b"\x00")
    return Sm2Signer(scalar, point)


def _from_pkcs8(der: bytes) -> Signer:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    if _OID_ED25519 in der[:32]:
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        key = load_der_private_key(der, password=None)
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return Ed25519Signer(raw)
    if _OID_SM2_CURVE in der:
        fields = _der_items(_der_items(der)[0][1])
        octets = [v for t, v in fields if t == 0x04]
        if not octets:
            raise KeyError_("PKCS#8 key lacks its private key")
        return _sm2_from_sec1(octets[0])
    raise KeyError_("unsupported private key type (use Ed25519 or SM2)")


def _from_spki(der: bytes) -> Verifier:
    fields = _der_items(_der_items(der)[0][1])
    if len(fields) != 2 or fields[1][0] != 0x03:
        raise KeyError_("public key is not a SubjectPublicKeyInfo")
    algorithm, bits = fields[0][1], fields[1][1][1:]
    if _OID_ED25519 in algorithm:
        return Ed25519Verifier(bits)
    if _OID_SM2_CURVE in algorithm:
        return Sm2Verifier(bits)
    raise KeyError_("unsupported public key type (use Ed25519 or SM2)")


def load_signer(pem: bytes | str) -> Signer:
    """A signer from a PEM private key (PKCS#8 Ed25519 or SM2, or SEC1 'EC PRIVATE KEY' on SM2)."""
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    for kind, der in _pem_blocks(text):
        if kind == "PRIVATE KEY":
            return _from_pkcs8(der)
        if kind == "EC PRIVATE KEY":
            return _sm2_from_sec1(der)
        if kind == "ENCRYPTED PRIVATE KEY":
            raise KeyError_("encrypted private keys are not supported here; decrypt it first")
    raise KeyError_("no private key in the PEM file")


def load_verifier(pem: bytes | str) -> Verifier:
    """A verifier from a PEM public key, or from a private key (its public half)."""
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    for kind, der in _pem_blocks(text):
        if kind == "PUBLIC KEY":
            try:
                return _from_spki(der)
            except IndexError:
                raise KeyError_("malformed public key") from None
    return load_signer(text)


def public_pem(verifier: Verifier) -> str:
    """The SubjectPublicKeyInfo PEM of a verifier's key (for handing to third parties)."""
    if verifier.algorithm == ED25519:
        algo = bytes.fromhex("300506032b6570")
    else:
        algo = bytes.fromhex("301306072a8648ce3d0201") + _OID_SM2_CURVE
    bits = b"\x03" + bytes([len(verifier.public_key) + 1]) + b"\x00" + verifier.public_key
    body = algo + bits
    der = b"\x30" + bytes([len(body)]) + body
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
