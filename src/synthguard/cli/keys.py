"""`synthguard keys`: generate signing keys (the private key is written to a 0600 file, never printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthguard.cli.common import console, reported

keys_app = typer.Typer(help="Signing keys for SecurityData and ledger checkpoints.", no_args_is_help=True)


@keys_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("-o", "--out", help="Private key file to create (PEM, mode 0600).")],
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="sm2 (SM2-with-SM3) or ed25519.")] = "sm2",
) -> None:
    """Create a key pair: OUT (private) and OUT.pub (public)."""
    from synthguard.errors import ConfigError
    from synthguard.fileio import write_atomic
    from synthguard.label.keys import Algorithm, SigningKey

    with reported(str(out)):
        if algorithm not in {a.value for a in Algorithm}:
            raise ConfigError(f"unknown algorithm {algorithm!r}; use sm2 or ed25519")
        key = SigningKey.generate(algorithm)
        pub = out.with_name(out.name + ".pub")
        if pub.exists():
            raise ConfigError("refusing to overwrite an existing public key file", path=str(pub))
        key.save(out)
        write_atomic(pub, key.public.to_pem().encode())
    console.print(f"{algorithm} key {key.public.key_id}: private {out} (keep secret), public {pub}", markup=False)


@keys_app.command("show")
def show(key: Annotated[Path, typer.Argument(help="A public or private key PEM.")]) -> None:
    """Print a key's algorithm, key id and public PEM (never the private part)."""
    from synthguard.errors import KeyError_
    from synthguard.label.keys import PublicKey

    with reported(str(key)):
        try:
            pub = PublicKey.from_pem(key.read_bytes())
        except OSError as exc:
            raise KeyError_(f"cannot read key: {exc.strerror}") from None
    console.print(f"{pub.algorithm.value} key {pub.key_id}", markup=False)
    console.print(pub.to_pem().rstrip(), markup=False)


@keys_app.command("watermark")
def watermark_key(
    out: Annotated[Path, typer.Option("-o", "--out", help="Secret watermark key file to create (hex, mode 0600).")],
) -> None:
    """Create a 32-byte secret watermark key (keep it secret: it reads and forges the watermark)."""
    import os

    from synthguard.errors import KeyError_
    from synthguard.watermarking import new_key

    with reported(str(out)):
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyError_("refusing to overwrite an existing key file") from None
        except OSError as exc:
            raise KeyError_(f"cannot write key: {exc.strerror}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(new_key() + "\n")
    console.print(f"watermark key written to {out} (keep secret)", markup=False)


def register(app: typer.Typer) -> None:
    """Add the keys verb group."""
    app.add_typer(keys_app, name="keys")
