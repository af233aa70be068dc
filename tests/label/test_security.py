"""Keys (PEM round trips, OpenSSL interop) and SecurityData signatures bound to the content."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from synthguard.errors import KeyError_
from synthguard.label.keys import Algorithm, PublicKey, SigningKey
from synthguard.label.model import AigcLabel
from synthguard.label.security import Role, SignatureStatus, TrustStore, check, signed_label
from tests.conftest import PRODUCER, PROPAGATOR

ALGS = [Algorithm.SM2, Algorithm.ED25519]


@pytest.fixture(scope="module", params=ALGS, ids=[a.value for a in ALGS])
def key(request: pytest.FixtureRequest) -> SigningKey:
    return SigningKey.generate(request.param)


def test_pem_roundtrip(key: SigningKey) -> None:
    again = SigningKey.from_pem(key.to_pem())
    assert again.public == key.public
    assert PublicKey.from_pem(key.public.to_pem()) == key.public
    assert PublicKey.from_pem(key.to_pem()) == key.public
    assert key.secret.hex() not in repr(key)


def test_sign_verify(key: SigningKey) -> None:
    sig = key.sign(b"message")
    assert key.public.verify(b"message", sig)
    assert not key.public.verify(b"messagf", sig)
    assert not SigningKey.generate(key.algorithm).public.verify(b"message", sig)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_reads_our_sm2_keys(tmp_path: Path) -> None:
    key = SigningKey.generate(Algorithm.SM2)
    (tmp_path / "k.pem").write_text(key.to_pem())
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SM2" in out
    assert key.secret.hex()[:8] in out.replace(":", "").replace(" ", "").replace("\n", "")


def test_bad_pem_is_a_key_error(tmp_path: Path) -> None:
    for text in [
        "",
        "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    ]:
        with pytest.raises(KeyError_):
            SigningKey.from_pem(text)
    with pytest.raises(KeyError_):
        SigningKey.load(tmp_path / "missing.pem")


def test_save_refuses_overwrite_and_is_private(tmp_path: Path) -> None:
    key = SigningKey.generate(Algorithm.ED25519)
    key.save(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(KeyError_):
        key.save(tmp_path / "k.pem")


def _label() -> AigcLabel:
    return AigcLabel.first_write(PRODUCER, "sec-1")


def test_signature_states(key: SigningKey) -> None:
    signed = signed_label(_label(), Role.PRODUCER, [b"content"], key)
    assert signed.problems() == []
    assert signed.reserved_code2 == signed.reserved_code1
    trusted = check(signed, Role.PRODUCER, [b"content"], TrustStore.of([key.public]))
    assert trusted.status is SignatureStatus.VALID_TRUSTED and trusted.binding is True
    assert check(signed, Role.PRODUCER, [b"content"], None).status is SignatureStatus.VALID_UNKNOWN_KEY
    assert check(signed, Role.PRODUCER, [b"changed"], None).status is SignatureStatus.INVALID
    relabeled = dataclasses.replace(signed, produce_id="sec-2")
    assert check(relabeled, Role.PRODUCER, [b"content"], None).status is SignatureStatus.INVALID
    assert check(_label(), Role.PRODUCER, [b"content"], None).status is SignatureStatus.ABSENT
    foreign = dataclasses.replace(_label(), reserved_code1="LBkc9peJ0Gox")
    assert check(foreign, Role.PRODUCER, None, None).status is SignatureStatus.UNRECOGNISED


def test_forged_signature_with_swapped_key_is_invalid() -> None:
    key, other = SigningKey.generate(Algorithm.ED25519), SigningKey.generate(Algorithm.ED25519)
    signed = signed_label(_label(), Role.PRODUCER, [b"c"], key)
    forged = signed.reserved_code1.replace(key.public.raw.hex(), other.public.raw.hex())
    result = check(dataclasses.replace(signed, reserved_code1=forged), Role.PRODUCER, [b"c"], None)
    assert result.status is SignatureStatus.INVALID


def test_propagator_signs_its_own_fields(key: SigningKey) -> None:
    producer = SigningKey.generate(Algorithm.ED25519)
    base = signed_label(_label(), Role.PRODUCER, [b"c"], producer)
    propagated = signed_label(base.with_propagation(PROPAGATOR, "p-9"), Role.PROPAGATOR, [b"c"], key)
    assert check(propagated, Role.PRODUCER, [b"c"], None).status is SignatureStatus.VALID_UNKNOWN_KEY
    assert check(propagated, Role.PROPAGATOR, [b"c"], None).status is SignatureStatus.VALID_UNKNOWN_KEY
