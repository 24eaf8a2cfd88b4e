#!/usr/bin/env python3
"""txjournal from Python: nested transactions, replay, compaction.

    PYTHONPATH=build/python:python /usr/bin/python3 python/examples/quickstart.py [journal-dir]

Without an argument it works in a new temporary directory and removes it.
"""

import sys
import tempfile

import txjournal


class OutOfStock(Exception):
    pass


def place_order(journal, order_id, sku, in_stock):
    """One order: the order event always, the stock reservation only if it succeeds."""
    with journal.begin() as tx:  # commits at the end of the block (durable when it returns)
        tx.append("orders", "created", f'{{"id": "{order_id}", "sku": "{sku}"}}'.encode(), key=order_id)
        try:
            with tx.begin() as reservation:  # a sub-transaction
                reservation.append("stock", "reserved", sku.encode(), key=sku)
                with reservation.begin() as audit:  # nests to any depth
                    audit.append("audit", "reservation", order_id.encode())
                if not in_stock:
                    raise OutOfStock(sku)  # rolls back the reservation and its audit event
        except OutOfStock:
            tx.append("orders", "backordered", b"", key=order_id)
    return tx.commit_info


def main(path):
    with txjournal.open(path) as journal:
        journal.register_compactor("orders", txjournal.LatestByKey())

        for n, in_stock in enumerate([True, False, True, True]):
            info = place_order(journal, f"o-{n % 2}", f"sku-{n}", in_stock)
            print(f"txn {info.txn_id}: {info.count} events from offset {info.first_offset}")

        print("replay:")
        for ev in journal.cursor(0):
            print(f"  {ev.offset:3} txn {ev.txn_id} {ev.topic}/{ev.type} key={ev.key!r} {ev.payload!r}")
        reserved = [ev.payload for ev in journal.cursor(0, topics=["stock"])]
        assert reserved == [b"sku-0", b"sku-2", b"sku-3"], reserved  # sku-1's reservation rolled back

        before = journal.rebuild("orders")
        snap = journal.compact("orders")  # latest event per key; other topics untouched
        after = journal.rebuild("orders")
        print(f"compacted orders below offset {snap.covered_offset}, state hash {snap.state_hash}")
        assert after.state_hash == before.state_hash
        for key, payload in sorted(after.values.items()):
            print(f"  {key.decode()} -> {payload.decode()}")
        try:
            list(journal.cursor(0, topics=["orders"]))
        except txjournal.TruncatedError as e:
            print(f"old orders are gone: {e}")
        assert len(list(journal.cursor(0, topics=["stock"]))) == 3


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp + "/journal")
