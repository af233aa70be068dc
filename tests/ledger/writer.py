"""A ledger writer run as a child process by the crash and concurrency tests.

Usage: python -m tests.ledger.writer TARGET TAG BATCHES BATCH_SIZE
Prints "<first> <last>" after every durable append; BATCHES 0 means forever (until killed).
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime

from synthguard.ledger import Ledger, generation


def main() -> None:
    """Append batches, acknowledging each committed one on stdout."""
    target, tag, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with Ledger.open(target, create=True, segment_bits=4) as ledger:
        n = 0
        while batches == 0 or n < batches:
            recs = [
                generation(
                    produce_id=f"{tag}-{n}-{j}",
                    producer="001191440300708461136T1XGW3",
                    content_hash=hashlib.sha256(f"{tag}-{n}-{j}".encode()).hexdigest(),
                    user="user_crash",
                    time=datetime.now(UTC),
                )
                for j in range(size)
            ]
            idx = ledger.append(recs)
            print(f"{idx[0]} {idx[-1]} {tag}-{n}", flush=True)
            n += 1


if __name__ == "__main__":
    main()
