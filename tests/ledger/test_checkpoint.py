"""C2SP signed-note / checkpoint format: an external reference signature, round trips, malformed notes.

The reference signed note and verifier key are the example in the documentation of Go's
golang.org/x/mod/sumdb/note package (the doc comment of note.go and ExampleOpen), the origin of the
C2SP signed-note format; found with the project's search tool and used here as data only.
"""

from __future__ import annotations

import base64

import pytest

from synthguard.errors import CorruptInput, SignatureInvalid
from synthguard.ledger import Checkpoint, Ed25519Signer, Ed25519Verifier, Sm2Signer, parse_checkpoint
from synthguard.ledger import verify_checkpoint as verify
from synthguard.ledger.checkpoint import key_hash, vkey

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="


def test_go_sumdb_note_reference_signature_verifies_with_our_key_hint_and_ed25519() -> None:
    name, hint, key = GO_VKEY.split("+")
    raw = base64.b64decode(key)
    assert raw[0] == 1  # Ed25519 signature type
    verifier = Ed25519Verifier(raw[1:])
    assert key_hash(name, verifier).hex() == hint
    assert vkey(name, verifier) == GO_VKEY
    sig = base64.b64decode(GO_SIG)
    assert sig[:4].hex() == hint
    assert verifier.verify(GO_TEXT.encode(), sig[4:])
    assert not verifier.verify(GO_TEXT.replace("answer", "question").encode(), sig[4:])


def test_round_trip_with_two_algorithms() -> None:
    ed, sm2 = Ed25519Signer.generate(), Sm2Signer.generate()
    cp = Checkpoint("example.cn/log", 12345, bytes(range(32)), ("time 2026-05-01T00:00:00Z",))
    text = cp.sign([ed, sm2])
    assert text.startswith("example.cn/log\n12345\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime ")
    for key in (ed, sm2):
        got = verify(text, [key])
        assert (got.origin, got.size, got.root, got.extensions) == (cp.origin, cp.size, cp.root, cp.extensions)
    tampered = text.replace("12345", "12346")
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify(tampered, [ed])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "origin\n5\n",
        "origin\nfive\nAAAA\n\n\u2014 k AAAAAAAA\n",
        "origin\n05\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k AAAAAAAA\n",
        "origin\n5\n" + base64.b64encode(bytes(31)).decode() + "\n\n\u2014 k AAAAAAAA\n",
        "origin\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n-- k AAAAAAAA\n",
        "origin\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k AAA\n",
        "origin\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k AAAAAAAA",
        "origin\n5\n!!!notbase64!!!\n\n\u2014 k AAAAAAAA\n",
    ],
)
def test_malformed_checkpoints_are_corrupt_input(text: str) -> None:
    with pytest.raises(CorruptInput):
        parse_checkpoint(text)


def test_unknown_signers_are_ignored_but_one_known_is_required() -> None:
    mine, theirs = Ed25519Signer.generate(), Ed25519Signer.generate()
    text = Checkpoint("o.example/log", 1, bytes(32)).sign([theirs, mine])
    assert verify(text, [mine]).size == 1
    with pytest.raises(SignatureInvalid, match="not signed by the given key"):
        verify(text, [Sm2Signer.generate()])
    with pytest.raises(SignatureInvalid):
        Checkpoint("o.example/log", 1, bytes(32)).sign([mine], name="has space")
