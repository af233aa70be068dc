"""The ledger on both stores: appends, proofs, checkpoints, lookup, retention, audit, bad input."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from synthguard.errors import InputError, LedgerError, SignatureInvalid
from synthguard.ledger import (
    Ed25519Signer,
    Ledger,
    ProofError,
    Sm2Signer,
    leaf_hash,
    lookup,
    verify_consistency,
    verify_inclusion,
)
from synthguard.ledger.merkle import root_from_leaves
from tests.ledger.conftest import T0, LedgerFactory, gen


def test_append_returns_indices_and_proofs_verify(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    assert ledger.size == 0
    assert ledger.append([gen(i) for i in range(5)]) == [0, 1, 2, 3, 4]
    assert ledger.append([gen(i) for i in range(5, 21)]) == list(range(5, 21))
    leaves = [leaf_hash(ledger.record(i)) for i in range(21)]
    for n in (1, 2, 5, 8, 13, 21):
        root = ledger.root(n)
        assert root == root_from_leaves(leaves[:n])
        for i in range(n):
            verify_inclusion(i, n, leaves[i], ledger.inclusion_proof(i, n), root)
        for m in range(1, n + 1):
            verify_consistency(m, n, ledger.root(m), root, ledger.consistency_proof(m, n))


def test_checkpoint_ed25519_and_sm2_verify_with_public_keys_only(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(origin="example.cn/aigc-ledger")
    ledger.append([gen(i) for i in range(9)])
    ed, sm2 = Ed25519Signer.generate(), Sm2Signer.generate()
    text = ledger.sign_checkpoint([ed, sm2])
    lines = text.split("\n")
    assert lines[:2] == ["example.cn/aigc-ledger", "9"] and lines[3] == ""
    assert sum(line.startswith("\u2014 example.cn/aigc-ledger ") for line in lines) == 2
    from synthguard.ledger import Ed25519Verifier, Sm2Verifier, verify_checkpoint

    for pub in (Ed25519Verifier(ed.public_key), Sm2Verifier(sm2.public_key)):
        assert verify_checkpoint(text, [pub]).root == ledger.root()
    with pytest.raises(SignatureInvalid, match="not signed by the given key"):
        verify_checkpoint(text, [Ed25519Signer.generate()])
    ev = ledger.evidence(4)
    assert ev.verify([Sm2Verifier(sm2.public_key)]).fields["produce_id"] == "sg-000004"


def test_lookup_by_each_field_with_evidence(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    ledger.append([gen(i) for i in range(30)])
    key = Ed25519Signer.generate()
    ledger.sign_checkpoint([key])
    ledger.append([gen(7, T0 + timedelta(days=1))])  # the same file logged again later
    by_id = lookup(ledger, produce_id="sg-000007")
    assert [e.index for e in by_id] == [7, 30]
    assert by_id[0].checkpoint is not None and by_id[1].checkpoint is None  # 30 is newer than the checkpoint
    assert by_id[0].verify([key]).fields["watermark"] == "00000007"
    with pytest.raises(SignatureInvalid, match="no signed checkpoint"):
        by_id[1].verify([key])
    digest = hashlib.sha256(b"content 12").hexdigest()
    assert ledger.find(content_hash=digest.upper()) == [12]
    assert ledger.find(content_hash="sha256:" + digest) == [12]
    assert ledger.find(watermark="0x0000000c") == [12]
    assert ledger.find(produce_id="sg-000012", watermark="0000000d") == []
    assert ledger.find(produce_id="nope") == []
    with pytest.raises(InputError):
        ledger.find()


def test_forged_evidence_is_rejected(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    ledger.append([gen(i) for i in range(11)])
    key = Ed25519Signer.generate()
    ledger.sign_checkpoint([key])
    ev = ledger.evidence(3)
    bundle = ev.to_json()
    from synthguard.ledger import Evidence

    forged = dict(bundle, record=bundle["record"].replace("sg-000003", "sg-999999"))
    with pytest.raises(ProofError):
        Evidence.from_json(forged).verify([key])
    bad_path = list(bundle["proof"])
    bad_path[0] = "00" * 32
    with pytest.raises(ProofError):
        Evidence.from_json(dict(bundle, proof=bad_path)).verify([key])
    with pytest.raises(ProofError):
        Evidence.from_json(dict(bundle, index=4)).verify([key])
    with pytest.raises(SignatureInvalid):
        Evidence.from_json(bundle).verify([Ed25519Signer.generate()])


def test_retention_prunes_whole_segments_and_logs_it(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(segment_bits=2)
    key = Ed25519Signer.generate()
    ledger.append([gen(i, T0 + timedelta(days=i)) for i in range(10)])  # segments 0..1 full, 2 partial
    ledger.sign_checkpoint([key])
    now = T0 + timedelta(days=206)  # entries 0..5 are older than 200 days
    assert ledger.prune(200, now=now) == [0]  # segment 1 holds day 6 and 7: not all aged out
    assert ledger.size == 11
    pruned_event = ledger.record(10).decode()
    assert '"type":"prune"' in pruned_event and '"segment":0' in pruned_event
    with pytest.raises(LedgerError, match="pruned"):
        ledger.record(1)
    assert ledger.find(produce_id="sg-000001") == []
    for i in range(4, 11):  # later proofs still verify, at the old checkpoint and now
        verify_inclusion(i, 11, leaf_hash(ledger.record(i)), ledger.inclusion_proof(i), ledger.root())
    ev = ledger.evidence(5)
    assert ev.size == 10 and ev.verify([key]).fields["produce_id"] == "sg-000005"
    verify_consistency(4, 11, ledger.root(4), ledger.root(), ledger.consistency_proof(4, 11))
    with pytest.raises(LedgerError, match="pruned"):
        ledger.consistency_proof(2, 11)  # the old head inside a pruned segment cannot be proven any more
    assert ledger.prune(200, now=now) == []
    assert ledger.prune(200, now=now + timedelta(days=30)) == [1]
    report = ledger.audit([key])
    assert report["pruned_segments"] == [0, 1] and report["size"] == 12 and report["checkpoints"] == 1


def test_audit_passes_and_counts_checkpoints(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(segment_bits=3)
    key = Sm2Signer.generate()
    for start in range(0, 40, 7):
        ledger.append([gen(i) for i in range(start, min(40, start + 7))])
        ledger.sign_checkpoint([key])
    report = ledger.audit([key])
    assert report["size"] == 40 and report["checkpoints"] == 6
    assert report["root"] == ledger.root().hex()


def test_audit_detects_a_checkpoint_from_another_key(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    ledger.append([gen(i) for i in range(3)])
    ledger.sign_checkpoint([Ed25519Signer.generate()])
    with pytest.raises(SignatureInvalid):
        ledger.audit([Ed25519Signer.generate()])


def test_bad_records_are_refused() -> None:
    from synthguard.ledger import generation

    base = {"produce_id": "p1", "producer": "x", "content_hash": "ab" * 32, "user": "user_0001"}
    for field, value in [
        ("user", "13800138000"),
        ("user", "110101199003074514"),
        ("user", "someone@example.com"),
        ("content_hash", "md5:abc"),
        ("time", "yesterday"),
        ("time", "2026-01-01T00:00:00"),
    ]:
        with pytest.raises(InputError):
            generation(**{**base, field: value})  # type: ignore[arg-type]
    with pytest.raises(InputError):
        generation(**base, watermark="xyz")


def test_sizes_out_of_range_are_input_errors(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    ledger.append([gen(0)])
    with pytest.raises(InputError):
        ledger.inclusion_proof(0, 5)
    with pytest.raises(InputError):
        ledger.record(3)
    with pytest.raises(ProofError):
        ledger.inclusion_proof(2)


def test_reopen_keeps_settings(make_ledger: LedgerFactory, target: str) -> None:
    make_ledger(origin="a.example/log", segment_bits=5).append([gen(1)])
    with Ledger.open(target) as again:
        assert again.origin == "a.example/log" and again.segment_bits == 5 and again.size == 1
