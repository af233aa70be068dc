"""Tracing files to generation records: logged before release, found by ProduceID and hash, proofs verified."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from synthguard.label.keys import SigningKey
from synthguard.label.security import TrustStore
from synthguard.labeling import label_media
from synthguard.ledger import Ledger
from synthguard.media import Media
from synthguard.tracing import log_generation, trace
from synthguard.verify import verify
from tests.conftest import PRODUCER


def _png(color: tuple[int, int, int] = (9, 8, 7)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("ed25519")


def test_logged_file_is_traced_with_a_verified_proof(tmp_path: Path, key: SigningKey) -> None:
    result = label_media(Media.from_bytes(_png()), PRODUCER, "trace-1", signer=key)
    with Ledger.open(str(tmp_path / "gen.db"), create=True) as log:
        index = log_generation(log, result.label, result.data, user="user_x1", signer=key)
    (tmp_path / "out.png").write_bytes(result.data)
    report = verify(tmp_path / "out.png", TrustStore.of([key.public]), ledger=str(tmp_path / "gen.db"))
    ledger = report.checks["ledger"]
    assert ledger["verified"] is True
    assert ledger["entries"][0]["index"] == index
    assert set(ledger["entries"][0]["matched_by"]) == {"produce_id", "content_hash"}
    assert ledger["entries"][0]["record"]["user"] == "user_x1"


def test_checkpoint_by_another_key_is_not_verified(tmp_path: Path, key: SigningKey) -> None:
    result = label_media(Media.from_bytes(_png()), PRODUCER, "trace-2")
    with Ledger.open(str(tmp_path / "gen.db"), create=True) as log:
        log_generation(log, result.label, result.data, user="user_x2", signer=key)
        other = SigningKey.generate("ed25519")
        found = trace(log, [result.label], result.data, [other.public])
    assert found["found"] and not found["verified"]
    assert found["entries"][0]["proof"].startswith("failed")


def test_unknown_file_is_not_found(tmp_path: Path, key: SigningKey) -> None:
    with Ledger.open(str(tmp_path / "gen.db"), create=True) as log:
        found = trace(log, [], _png((1, 1, 1)), [key.public])
    assert found == {"found": False, "verified": False, "entries": [], "note": ""}


def test_tampered_record_fails_its_proof(tmp_path: Path, key: SigningKey) -> None:
    result = label_media(Media.from_bytes(_png()), PRODUCER, "trace-3")
    db = tmp_path / "gen.db"
    with Ledger.open(str(db), create=True) as log:
        log_generation(log, result.label, result.data, user="user_x3", signer=key)
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    table = next(t for t in tables if "entr" in t or "record" in t or "leaf" in t)
    cols = [r[1] for r in con.execute(f"pragma table_info({table})")]
    blob_col = next(c for c in cols if c in ("record", "data", "body", "value"))
    row = con.execute(f"select rowid, {blob_col} from {table} limit 1").fetchone()
    forged = bytes(row[1]).replace(b"user_x3", b"user_zz")
    con.execute(f"update {table} set {blob_col}=? where rowid=?", (forged, row[0]))
    con.commit()
    con.close()
    with Ledger.open(str(db)) as log:
        found = trace(log, [result.label], result.data, [key.public])
    assert not found["verified"]


def test_cli_label_logs_before_release_and_needs_a_user(tmp_path: Path) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    exe = [sys.executable, "-m", "synthguard.cli.main"]
    res = subprocess.run(
        [*exe, "label", "a.png", "--producer", PRODUCER, "-o", "o.png", "--ledger", "g.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 3 and "--user" in res.stderr and not (tmp_path / "o.png").exists()
    res = subprocess.run(
        [*exe, "label", "a.png", "--producer", PRODUCER, "-o", "o.png", "--ledger", "g.db", "--user", "user_9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    out = subprocess.run(
        [*exe, "verify", "o.png", "--ledger", "g.db", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(out.stdout)[0]["checks"]["ledger"]["found"] is True


def test_raw_identifiers_are_refused_as_user(tmp_path: Path) -> None:
    result = label_media(Media.from_bytes(_png()), PRODUCER, "trace-4")
    from synthguard.errors import InputError

    with Ledger.open(str(tmp_path / "gen.db"), create=True) as log, pytest.raises(InputError):
        log_generation(log, result.label, result.data, user="13800138000")
