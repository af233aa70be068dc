"""The Ledger: append records, prove inclusion and consistency, sign checkpoints, look up, prune, audit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from synthguard.errors import InputError, LedgerError
from synthguard.ledger import checkpoint as cpmod
from synthguard.ledger import runs
from synthguard.ledger.backend import FORMAT, Backend, Writer, open_backend
from synthguard.ledger.evidence import Evidence
from synthguard.ledger.merkle import (
    EMPTY_ROOT,
    Appender,
    Node,
    consistency_ranges,
    frontier,
    hashes_for,
    inclusion_ranges,
    leaf_hash,
    nodes_before,
    storage_id,
)
from synthguard.ledger.record import PRUNE, Record, event, format_time, lookup_key
from synthguard.ledger.signer import Signer, Verifier

DEFAULT_RETENTION_DAYS = 200  # six months (Cybersecurity Law, Measures Art. 9) plus a margin
_AUDIT_CHUNK = 1 << 14


class Ledger:
    """A tamper-evident, append-only log of generation records and governance events."""

    def __init__(self, backend: Backend) -> None:
        """Wrap an opened backend."""
        self.backend = backend
        meta = backend.meta()
        self.origin = meta["origin"]
        self.segment_bits = int(meta["segment_bits"])
        self.merged_keys = meta["format"] == FORMAT  # False: a format-1 ledger, one key slice per segment

    @classmethod
    def open(cls, target: str, *, create: bool = False, origin: str | None = None, segment_bits: int = 16) -> Ledger:
        """Open the ledger at an SQLite path or a postgresql:// URL (create=True makes a new one)."""
        if not 0 <= segment_bits <= 30:
            raise InputError("segment_bits must be between 0 and 30")
        return cls(open_backend(target, create=create, origin=origin, segment_bits=segment_bits))

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the store."""
        self.backend.close()

    # --- reading the tree ------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Entries ever appended."""
        return self.backend.size()

    def _fetch(self, wanted: Sequence[Node]) -> dict[Node, bytes]:
        ids = {storage_id(level, index): (level, index) for level, index in wanted}
        return {ids[i]: h for i, h in self.backend.nodes(list(ids)).items()}

    def _check_size(self, size: int | None) -> int:
        current = self.size
        if size is None:
            return current
        if not 0 <= size <= current:
            raise InputError(f"tree size {size} is outside 0..{current}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree at size (default: now)."""
        size = self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return hashes_for([(0, size)], self._fetch)[0]

    def record(self, index: int) -> bytes:
        """The stored record bytes of one entry."""
        size = self.size
        if not 0 <= index < size:
            raise InputError(f"entry {index} does not exist (the log has {size} entries)")
        rows = self.backend.entries(index, index + 1)
        if not rows:
            seg = index >> self.segment_bits
            if seg in self.backend.pruned():
                raise LedgerError(f"entry {index} was pruned with segment {seg} after its retention period")
            raise LedgerError(f"entry {index} is missing from the store: the ledger is damaged")
        return rows[0][1]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion path for entry index in the tree of the given size."""
        size = self._check_size(size)
        return hashes_for(inclusion_ranges(index, size), self._fetch)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof that the tree at size old is a prefix of the tree at size new."""
        new = self._check_size(new)
        if old == new:
            return []
        return hashes_for(consistency_ranges(old, new), self._fetch)

    # --- writing ---------------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> list[int]:
        """Append records in one durable transaction; returns their indices once committed."""
        prepared = [(r.timestamp, r.encode(), r.keys()) for r in records]
        if not prepared:
            return []
        with self.backend.writer() as w:
            first = self._append_in(w, prepared)
        return list(range(first, first + len(prepared)))

    def _append_in(self, w: Writer, prepared: Sequence[tuple[int, bytes, list[int]]]) -> int:
        n = w.size()
        edge_ids = [storage_id(level, index) for level, index in frontier(n)]
        got = w.nodes(edge_ids)
        if len(got) != len(edge_ids):
            raise LedgerError(f"the ledger's right edge at size {n} is missing: the store is damaged")
        appender = Appender(n, [got[i] for i in edge_ids])
        hashes: list[bytes] = []
        keys: list[tuple[int, int, int]] = []
        bits = self.segment_bits
        for offset, (_, data, ks) in enumerate(prepared):
            appender.add(leaf_hash(data), hashes)
            idx = n + offset
            keys.extend((idx >> bits, k, idx) for k in ks)
        w.append(n, [(ts, data) for ts, data, _ in prepared], hashes, keys)
        if self.merged_keys and (n + len(prepared)) >> bits > n >> bits:
            done = len(self.backend.pruned())
            for target, sources in runs.merges(done, n >> bits, (n + len(prepared)) >> bits):
                w.merge_runs(target, sources)
        return n

    def _runs(self, size: int, pruned: list[int]) -> list[int]:
        """The key runs that hold every live lookup key at this size."""
        sealed = size >> self.segment_bits
        has_open = size > sealed << self.segment_bits
        if self.merged_keys:
            return runs.live(len(pruned), sealed, has_open)
        gone = set(pruned)
        return [s for s in range(sealed + has_open) if s not in gone]

    def sign_checkpoint(self, signers: Sequence[Signer], name: str | None = None) -> str:
        """Sign the current tree head as a C2SP checkpoint, store it, and return its text."""
        if not signers:
            raise InputError("a checkpoint needs at least one signing key")
        with self.backend.writer() as w:
            size = w.size()
            root = self.root(size) if size else EMPTY_ROOT
            text = cpmod.Checkpoint(self.origin, size, root).sign(signers, name)
            for s in signers:
                w.add_checkpoint(size, cpmod.key_hash(name or self.origin, s), text)
        return text

    def latest_checkpoint(self, at_least: int = 0) -> tuple[int, str] | None:
        """The newest stored checkpoint (size, text), if its size is at least at_least."""
        cps = self.backend.checkpoints()
        if not cps or cps[-1][0] < at_least:
            return None
        return cps[-1]

    # --- lookup ----------------------------------------------------------------------------------

    def find(
        self, *, produce_id: str | None = None, content_hash: str | None = None, watermark: str | None = None
    ) -> list[int]:
        """Indices of entries matching every given field (indexed, then confirmed on the record)."""
        from synthguard.ledger.record import normalise_hash, normalise_payload

        wanted: dict[str, str] = {}
        if produce_id:
            wanted["produce_id"] = produce_id
        if content_hash:
            wanted["content_hash"] = normalise_hash(content_hash)
        if watermark:
            wanted["watermark"] = normalise_payload(watermark)
        if not wanted:
            raise InputError("give a ProduceID, a content hash or a watermark payload to look up")
        name, value = next(iter(wanted.items()))
        key = lookup_key(name, value)
        bits = self.segment_bits
        size, pruned = self.size, self.backend.pruned()
        while True:
            if size == 0:
                return []
            found = self.backend.find(key, self._runs(size, pruned))
            # Runs change only when a segment seals or is pruned, and both only grow: if neither moved
            # across the probe, no writer merged or split a run under it.
            again, pruned_again = self.size, self.backend.pruned()
            if again >> bits == size >> bits and pruned_again == pruned:
                break
            size, pruned = again, pruned_again
        out = []
        for idx in found:
            fields = Record.decode(self.record(idx)).fields
            if all(str(fields.get(k)) == v for k, v in wanted.items()):
                out.append(idx)
        return out

    def evidence(self, index: int) -> Evidence:
        """An entry with its inclusion proof against the newest checkpoint covering it (or the live head)."""
        cp = self.latest_checkpoint(at_least=index + 1)
        size = cp[0] if cp else self.size
        return Evidence(
            index=index,
            record=self.record(index),
            size=size,
            proof=self.inclusion_proof(index, size),
            checkpoint=cp[1] if cp else None,
        )

    def lookup(
        self, *, produce_id: str | None = None, content_hash: str | None = None, watermark: str | None = None
    ) -> list[Evidence]:
        """Evidence (entry, inclusion proof, checkpoint) for every entry matching the given fields."""
        idx = self.find(produce_id=produce_id, content_hash=content_hash, watermark=watermark)
        return [self.evidence(i) for i in idx]

    # --- retention -------------------------------------------------------------------------------

    def prune(self, retention_days: float = DEFAULT_RETENTION_DAYS, now: datetime | None = None) -> list[int]:
        """Drop whole segments whose every entry is older than the retention period; log each prune."""
        if retention_days < 0:
            raise InputError("retention must not be negative")
        now = now or datetime.now(UTC)
        cutoff = int((now - timedelta(days=retention_days)).timestamp())
        bits = self.segment_bits
        done: list[int] = []
        with self.backend.writer() as w:
            n = w.size()
            already = set(self.backend.pruned())
            for seg in range(n >> bits):
                if seg in already:
                    continue
                newest = w.newest_time(seg << bits, (seg + 1) << bits)
                if newest is None or newest >= cutoff:
                    break
                seg_root = w.nodes([storage_id(bits, seg)]).get(storage_id(bits, seg))
                if seg_root is None:
                    raise LedgerError(f"segment {seg} has no stored root: the store is damaged")
                rec = event(
                    PRUNE,
                    {
                        "segment": seg,
                        "first": seg << bits,
                        "last": ((seg + 1) << bits) - 1,
                        "root": seg_root.hex(),
                        "newest": format_time(datetime.fromtimestamp(newest, UTC)),
                        "retention_days": retention_days,
                    },
                    now,
                )
                at = self._append_in(w, [(rec.timestamp, rec.encode(), rec.keys())])
                if self.merged_keys:
                    if len(self.backend.pruned()) != seg:
                        raise LedgerError(f"pruned segments before {seg} are not a prefix: the store is damaged")
                    cut = runs.split(seg, w.size() >> bits)
                    if cut is not None:
                        w.split_run(cut[0], [(rid, lo << bits, hi << bits) for rid, lo, hi in cut[1]])
                w.prune(seg, bits, at)
                done.append(seg)
        return done

    def migrate(self) -> bool:
        """Upgrade a format-1 ledger's per-segment key slices to merged runs; False when already current."""
        if self.merged_keys:
            return False
        bits = self.segment_bits
        with self.backend.writer() as w:
            pruned = self.backend.pruned()
            if pruned != list(range(len(pruned))):
                raise LedgerError("pruned segments are not a prefix: the store is damaged")
            sealed = w.size() >> bits
            for target, sources in runs.merges(len(pruned), len(pruned), sealed):
                w.merge_runs(target, sources)
            w.set_meta("format", FORMAT)
        self.merged_keys = True
        return True

    # --- audit -----------------------------------------------------------------------------------

    def audit(self, verifiers: Iterable[Verifier] = (), witness: str | None = None) -> dict[str, Any]:
        """Recompute the whole tree from the stored records and check every stored hash and checkpoint."""
        damage = self.backend.integrity()
        if damage:
            raise LedgerError(f"ledger storage is damaged: {damage}")
        size = self.size
        bits = self.segment_bits
        pruned = set(self.backend.pruned())
        appender = Appender(0, [])
        kept: dict[int, str] = {}
        prune_roots: dict[int, str] = {}
        step = max(_AUDIT_CHUNK, 1 << bits)
        pos = 0
        while pos < size:
            seg = pos >> bits
            if seg in pruned:
                end = pos + (1 << bits)
                out: list[bytes] = []
                root = self.backend.nodes([storage_id(bits, seg)]).get(storage_id(bits, seg))
                if root is None:
                    raise LedgerError(f"pruned segment {seg} lost its subtree hash")
                appender.add_subtree(bits, root, out)
                kept[seg] = root.hex()
                self._compare(storage_id(bits, seg), out, f"above pruned segment {seg}")
                pos = end
                continue
            end = min(size, pos + step)
            for s in pruned:
                if pos < s << bits < end:
                    end = s << bits
            rows = self.backend.entries(pos, end)
            if len(rows) != end - pos or (rows and (rows[0][0] != pos or rows[-1][0] != end - 1)):
                have = {i for i, _ in rows}
                lost = next(i for i in range(pos, end) if i not in have)
                raise LedgerError(f"entry {lost} is missing from the ledger (entries {pos}..{end - 1} checked)")
            out = []
            for _, data in rows:
                appender.add(leaf_hash(data), out)
                if b'"type":"prune"' in data:
                    rec = Record.decode(data)
                    if rec.type == PRUNE:
                        prune_roots[int(rec.fields["segment"])] = str(rec.fields["root"])
            self._compare(nodes_before(pos), out, f"entries {pos}..{end - 1}")
            pos = end
        for seg, root_hex in kept.items():
            logged = prune_roots.get(seg)
            if logged is not None and logged != root_hex:
                raise LedgerError(f"pruned segment {seg}'s kept hash differs from the one its prune event logged")
        extra = self.backend.node_range(nodes_before(size), nodes_before(size) + 1)
        if extra:
            raise LedgerError(f"the store holds subtree hashes beyond its {size} entries: it is inconsistent")
        root = appender.root()
        verifiers = list(verifiers)
        checked = 0
        for _cp_size, text in self.backend.checkpoints():
            cp = cpmod.verify(text, verifiers) if verifiers else cpmod.parse(text)
            self._check_head(cp, size, "stored checkpoint")
            checked += 1
        if witness is not None:
            cp = cpmod.verify(witness, verifiers) if verifiers else cpmod.parse(witness)
            self._check_head(cp, size, "the given checkpoint")
        return {"size": size, "root": root.hex(), "pruned_segments": sorted(pruned), "checkpoints": checked}

    def _check_head(self, cp: cpmod.Checkpoint, size: int, what: str) -> None:
        if cp.origin != self.origin:
            raise LedgerError(f"{what} is for log {cp.origin!r}, not {self.origin!r}")
        if cp.size > size:
            raise LedgerError(
                f"{what} signs {cp.size} entries but the log has only {size}: entries were removed (truncated log)"
            )
        if self.root(cp.size) != cp.root:
            raise LedgerError(f"{what} at size {cp.size} does not match the stored tree: the log was rewritten")

    def _compare(self, start_id: int, computed: list[bytes], where: str) -> None:
        stored = self.backend.node_range(start_id, start_id + len(computed))
        if len(stored) != len(computed):
            raise LedgerError(f"subtree hashes for {where} are missing from the store")
        for (sid, h), want in zip(stored, computed, strict=True):
            if h != want:
                raise LedgerError(f"stored hash {sid} for {where} does not match the records: tampered or corrupt")
