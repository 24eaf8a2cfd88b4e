"""A writer process killed with SIGKILL: every commit it acknowledged is
found, whole, by a reader of the reopened journal, and nothing partial is."""

from __future__ import annotations

import signal

import pytest

import txjournal
from conftest import HANG_LIMIT, spawn

# Commit i holds events "i:0" .. "i:(i % 5)"; a sub-transaction rolled back
# in every commit appends "i:rb", which must never be seen. It prints
# "ack i txn_id first_offset count" once commit() returned.
WRITER = """
import sys, txjournal
j = txjournal.open(sys.argv[1], durability=sys.argv[2], segment_size=64 * 1024)
i = int(sys.argv[3])
while True:
    with j.begin() as tx:
        for n in range(i % 5 + 1):
            tx.append("crash", "ev", f"{i}:{n}".encode() + b"." * (i % 7) * 100, key=str(i))
        sub = tx.begin()
        sub.append("crash", "ev", f"{i}:rb".encode())
        sub.rollback()
    info = tx.commit_info
    print("ack", i, info.txn_id, info.first_offset, info.count, flush=True)
    i += 1
"""


@pytest.mark.parametrize("durability", ["commit", "none"])
def test_every_commit_acknowledged_by_a_writer_killed_with_sigkill_is_found(jdir, durability):
    acked = {}  # commit number -> (txn_id, first_offset, count)
    start = 0
    for cycle in range(3):
        child = spawn(WRITER, str(jdir), durability, str(start))
        try:
            # Kill after a number of acknowledgements that varies per cycle,
            # while the writer is somewhere in its next commit.
            for _ in range(40 + 23 * cycle):
                line = child.stdout.readline().split()
                assert line and line[0] == "ack", f"writer ended early: {line}"
                i, txn, first, count = map(int, line[1:])
                acked[i] = (txn, first, count)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(HANG_LIMIT)
        with child:  # closes the pipes
            rest = child.stdout.read()
        for line in rest.split("\n"):  # acks already printed count too
            f = line.split()
            if f and f[0] == "ack" and len(f) == 5:
                acked[int(f[1])] = tuple(map(int, f[2:]))
        assert child.returncode == -signal.SIGKILL

        with txjournal.open(jdir, durability=durability) as j:  # recovers
            events = list(j.cursor(0))
            start = max(acked) + 1 + 1000 * (cycle + 1)  # the next writer's numbers never collide
        assert [e.offset for e in events] == list(range(len(events)))
        by_commit = {}
        for e in events:
            i, n = e.payload.split(b".")[0].decode().split(":")
            assert n != "rb", "a rolled-back sub-transaction's event was replayed"
            by_commit.setdefault(int(i), []).append(e)
        for i, evs in by_commit.items():  # nothing partial, whether acknowledged or not
            assert [e.payload.split(b".")[0] for e in evs] == [f"{i}:{n}".encode() for n in range(i % 5 + 1)]
            assert len({e.txn_id for e in evs}) == 1
        for i, (txn, first, count) in acked.items():
            assert i in by_commit, f"acknowledged commit {i} (txn {txn}) is missing"
            evs = by_commit[i]
            assert (evs[0].txn_id, evs[0].offset, len(evs)) == (txn, first, count)
