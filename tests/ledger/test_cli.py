"""`synthguard ledger …`: the commands a provider and a third party run, and their one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from synthguard.cli.main import app
from tests.ledger.conftest import PRODUCER

runner = CliRunner()


def ed25519_pem(tmp: Path, name: str = "log.pem") -> tuple[Path, Path]:
    """A private key PEM and its public PEM."""
    key = Ed25519PrivateKey.generate()
    priv, pub = tmp / name, tmp / (name + ".pub")
    priv.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return priv, pub


def sg(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_append_checkpoint_prove_verify_find(tmp_path: Path) -> None:
    db = str(tmp_path / "gen.db")
    priv, pub = ed25519_pem(tmp_path)
    out = tmp_path / "out.png"
    out.write_bytes(b"\x89PNG pretend output")
    code, text = sg(
        "ledger", "append", "-l", db, "--produce-id", "sg-1", "--producer", PRODUCER,
        "--file", str(out), "--user", "user_ab12cd", "--watermark", "c0ffee",
        "--label", '{"Label": "1"}', "--origin", "example.cn/ledger",
    )  # fmt: skip
    assert code == 0, text
    lines = tmp_path / "batch.jsonl"
    lines.write_text(
        "\n".join(
            json.dumps(
                {"produce_id": f"sg-{i}", "producer": PRODUCER, "content_hash": "ab" * 32, "user": "user_zz9999"}
            )
            for i in range(2, 12)
        )
    )
    code, text = sg("ledger", "append", "-l", db, "--jsonl", str(lines), "--key", str(priv))
    assert code == 0 and "appended 10 entries: 1..10" in text and "\u2014 example.cn/ledger " in text
    code, text = sg("ledger", "show", "-l", db)
    assert code == 0 and "size: 11" in text and "example.cn/ledger\n11\n" in text
    code, text = sg("ledger", "find", "-l", db, "--file", str(out))
    assert code == 0 and json.loads(text.splitlines()[0])["index"] == 0
    bundle = tmp_path / "p.json"
    assert sg("ledger", "prove", "-l", db, "3", "-o", str(bundle))[0] == 0
    code, text = sg("ledger", "verify", "--proof", str(bundle), "--key", str(pub))
    assert code == 0 and "entry 3 is in the signed log of size 11" in text and '"sg-4"' in text
    _, other_pub = ed25519_pem(tmp_path, "other.pem")
    code, text = sg("ledger", "verify", "--proof", str(bundle), "--key", str(other_pub))
    assert code == 9 and "not signed by the given key" in text
    forged = json.loads(bundle.read_text())
    forged["record"] = forged["record"].replace("sg-4", "sg-5")
    bundle.write_text(json.dumps(forged))
    code, text = sg("ledger", "verify", "--proof", str(bundle), "--key", str(pub))
    assert code == 9 and "does not lead to the signed root" in text
    cons = tmp_path / "c.json"
    assert sg("ledger", "append", "-l", db, "--produce-id", "x", "--producer", "p", "--content-hash", "cd" * 32,
              "--user", "user_123456")[0] == 0  # fmt: skip
    assert sg("ledger", "prove", "-l", db, "--from", "11", "-o", str(cons))[0] == 0
    code, text = sg("ledger", "verify", "--proof", str(cons))
    assert code == 0 and "size 11 is a prefix of the tree of size 12" in text
    cp = tmp_path / "cp.txt"
    assert sg("ledger", "checkpoint", "-l", db, "--key", str(priv), "-o", str(cp))[0] == 0
    code, text = sg("ledger", "verify", "-l", db, "--key", str(pub), "--checkpoint", str(cp))
    assert code == 0 and "ok: 12 entries" in text and "2 checkpoints (signatures checked)" in text


def test_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "l.db")
    code, text = sg("ledger", "show", "-l", db)
    assert code == 3 and "no ledger here" in text
    code, text = sg("ledger", "append", "-l", db, "--produce-id", "a", "--producer", "b",
                    "--content-hash", "ab" * 32, "--user", "13800138000")  # fmt: skip
    assert code == 3 and "pseudonym" in text and not Path(db).exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"produce_id": "a"}\nnot json\n')
    code, text = sg("ledger", "append", "-l", db, "--jsonl", str(bad))
    assert code == 5 and "line 1" in text
    junk = tmp_path / "junk.json"
    junk.write_text("{]")
    code, text = sg("ledger", "verify", "--proof", str(junk), "--key", str(ed25519_pem(tmp_path)[1]))
    assert code == 5 and "not JSON" in text
    code, text = sg("ledger", "checkpoint", "-l", db, "--key", str(junk))
    assert code == 8 and "PEM" in text
    code, text = sg("ledger", "show", "-l", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 13 and "cannot reach" in text


def test_real_command_on_postgres_and_sm2(tmp_path: Path, pg_url: str) -> None:
    """The installed command end to end: PostgreSQL URL, an SM2 key from openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make an SM2 PEM here)")
    key = tmp_path / "sm2.pem"
    made = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], capture_output=True)
    if made.returncode:
        pytest.skip("this openssl cannot make SM2 keys")
    pub = tmp_path / "sm2.pub"
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True)
    exe = [sys.executable, "-m", "synthguard.cli.main", "ledger"]
    env = {**os.environ, "SYNTHGUARD_LEDGER": pg_url, "COLUMNS": "200"}
    digest = hashlib.sha256(b"video").hexdigest()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, *args], capture_output=True, text=True, env=env, timeout=120)

    done = run("append", "--produce-id", "v-1", "--producer", PRODUCER, "--content-hash", digest,
               "--user", "user_video", "--key", str(key))  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = run("find", "--content-hash", digest)
    assert found.returncode == 0, found.stderr
    bundle = tmp_path / "b.json"
    bundle.write_text(found.stdout.splitlines()[0])
    checked = run("verify", "--proof", str(bundle), "--key", str(pub))
    assert checked.returncode == 0 and "entry 0 is in the signed log" in checked.stdout, checked.stderr
    audit = run("verify", "--key", str(pub))
    assert audit.returncode == 0 and "ok: 1 entries" in audit.stdout
