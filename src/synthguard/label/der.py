"""Just enough DER to store SM2 keys as standard PKCS#8 / SubjectPublicKeyInfo PEM files."""

from __future__ import annotations

from synthguard.errors import KeyError_

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2_CURVE = "1.2.156.10197.1.301"


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element."""
    return bytes([tag]) + _length(len(body)) + body


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER element."""
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        rest = part
        chunk = [rest & 0x7F]
        rest >>= 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """Tag, body and the position after one element; KeyError_ on malformed input."""
    if pos + 2 > len(data):
        raise KeyError_("key file is truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise KeyError_("key file has a bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise KeyError_("key file is truncated")
    return tag, data[pos : pos + length], pos + length


def children(body: bytes) -> list[tuple[int, bytes]]:
    """The elements inside a constructed element's body."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        tag, inner, pos = read_tlv(body, pos)
        out.append((tag, inner))
    return out


def sm2_public_der(point: bytes) -> bytes:
    """SubjectPublicKeyInfo for an SM2 point (64 bytes X||Y)."""
    alg = tlv(0x30, oid(OID_EC_PUBLIC_KEY) + oid(OID_SM2_CURVE))
    return tlv(0x30, alg + tlv(0x03, b"\x00\x04" + point))


def sm2_private_der(secret: bytes, point: bytes) -> bytes:
    """PKCS#8 PrivateKeyInfo holding an RFC 5915 ECPrivateKey on the SM2 curve."""
    alg = tlv(0x30, oid(OID_EC_PUBLIC_KEY) + oid(OID_SM2_CURVE))
    ec = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, secret) + tlv(0xA1, tlv(0x03, b"\x00\x04" + point)))
    return tlv(0x30, tlv(0x02, b"\x00") + alg + tlv(0x04, ec))


def _is_sm2(alg_body: bytes) -> bool:
    return alg_body == oid(OID_EC_PUBLIC_KEY) + oid(OID_SM2_CURVE)


def parse_sm2_public(der: bytes) -> bytes:
    """The 64-byte point of an SM2 SubjectPublicKeyInfo."""
    _tag, body, _ = read_tlv(der, 0)
    items = children(body)
    if len(items) != 2 or not _is_sm2(items[0][1]) or items[1][0] != 0x03:
        raise KeyError_("not an SM2 public key")
    bits = items[1][1]
    if len(bits) != 66 or bits[:2] != b"\x00\x04":
        raise KeyError_("SM2 public key is not an uncompressed point")
    return bits[2:]


def parse_sm2_sec1(der: bytes) -> tuple[bytes, bytes | None]:
    """The secret and (if present) the point of an RFC 5915 "EC PRIVATE KEY" on the SM2 curve."""
    _tag, body, _ = read_tlv(der, 0)
    items = children(body)
    secret = next((b for t, b in items if t == 0x04), None)
    if secret is None or len(secret) > 32:
        raise KeyError_("EC private key has no 32-byte secret")
    params = [b for t, b in items if t == 0xA0]
    if params and params[0] != oid(OID_SM2_CURVE):
        raise KeyError_("EC private key is not on the SM2 curve")
    point = None
    for tag, inner in items:
        if tag == 0xA1:
            bits = read_tlv(inner, 0)[1]
            if len(bits) == 66 and bits[:2] == b"\x00\x04":
                point = bits[2:]
    return secret.rjust(32, b"\x00"), point


def parse_sm2_private(der: bytes) -> tuple[bytes, bytes | None]:
    """The 32-byte secret and (if present) the 64-byte point of an SM2 PKCS#8 key."""
    _tag, body, _ = read_tlv(der, 0)
    items = children(body)
    if len(items) < 3 or not _is_sm2(items[1][1]) or items[2][0] != 0x04:
        raise KeyError_("not an SM2 private key")
    ec = children(read_tlv(items[2][1], 0)[1])
    secret = next((b for t, b in ec if t == 0x04), None)
    if secret is None or len(secret) != 32:
        raise KeyError_("SM2 private key has no 32-byte secret")
    point = None
    for tag, inner in ec:
        if tag == 0xA1:
            bits = read_tlv(inner, 0)[1]
            if len(bits) == 66 and bits[:2] == b"\x00\x04":
                point = bits[2:]
    return secret, point
