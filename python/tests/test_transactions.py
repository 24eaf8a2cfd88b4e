"""Nested transactions through the Python binding: commit and rollback
semantics, seen again by a reader replaying the journal."""

from __future__ import annotations

import gc
import threading

import pytest

import txjournal
from conftest import HANG_LIMIT, replay


class Boom(Exception):
    pass


def test_a_rolled_back_sub_transaction_is_invisible_on_replay_and_offsets_stay_dense(jdir):
    with txjournal.open(jdir) as j:
        with j.begin() as tx:
            tx.append("orders", "created", b"a", key="o-1")
            with pytest.raises(Boom):
                with tx.begin() as sub:
                    sub.append("stock", "reserved", b"b")
                    with sub.begin() as subsub:  # commits into sub, then goes with it
                        subsub.append("stock", "reserved", b"c")
                    raise Boom()
            with tx.begin() as sub2:
                sub2.append("orders", "paid", b"d", key="o-1")
        info = tx.commit_info
        assert tx.state == "committed"
        assert (info.first_offset, info.count) == (0, 2)
        with j.begin() as tx2:
            tx2.append("orders", "shipped", b"e")
        assert tx2.commit_info.first_offset == 2

    with txjournal.open(jdir, read_only=True) as j:
        events = replay(j)
    assert [e.payload for e in events] == [b"a", b"d", b"e"]
    assert [e.offset for e in events] == [0, 1, 2]
    assert events[0].txn_id == events[1].txn_id == info.txn_id
    assert events[2].txn_id != info.txn_id
    assert events[0].key == b"o-1" and events[2].key is None
    assert (events[1].topic, events[1].type) == ("orders", "paid")


def test_an_exception_in_a_top_level_block_rolls_everything_back_and_propagates(journal):
    with pytest.raises(Boom):
        with journal.begin() as tx:
            tx.append("t", "x", b"1")
            with tx.begin() as sub:
                sub.append("t", "x", b"2")
            raise Boom()
    assert tx.state == "rolled back" and tx.commit_info is None
    assert journal.next_offset == 0
    with journal.begin() as tx:  # the journal takes the next transaction at once
        tx.append("t", "x", b"3")
    assert [e.payload for e in replay(journal)] == [b"3"]
    assert replay(journal)[0].offset == 0


def test_sub_transactions_nest_to_any_depth(journal):
    depth = 64
    with journal.begin() as top:
        chain = [top]
        for i in range(depth):
            chain.append(chain[-1].begin())
            chain[-1].append("deep", "level", str(i).encode())
        assert chain[-1].depth == depth
        for sub in reversed(chain[1:]):
            info = sub.commit()
            assert info.sub_id == sub.sub_id
    assert top.commit_info.count == depth
    assert [e.payload for e in replay(journal)] == [str(i).encode() for i in range(depth)]


def test_rolling_back_a_middle_level_discards_the_levels_committed_into_it(journal):
    with journal.begin() as tx:
        tx.append("t", "x", b"keep-1")
        mid = tx.begin()
        mid.append("t", "x", b"drop-1")
        inner = mid.begin()
        inner.append("t", "x", b"drop-2")
        assert inner.commit().count == 1
        mid.rollback()
        assert mid.state == "rolled back" and not mid.is_open
        tx.append("t", "x", b"keep-2")
    assert [e.payload for e in replay(journal)] == [b"keep-1", b"keep-2"]
    assert [e.offset for e in replay(journal)] == [0, 1]


def test_a_block_committed_or_rolled_back_explicitly_is_left_as_it_is(journal):
    with journal.begin() as tx:
        tx.append("t", "x", b"1")
        tx.rollback()
    with journal.begin() as tx2:
        tx2.append("t", "x", b"2")
        info = tx2.commit()
    assert tx2.commit_info.txn_id == info.txn_id
    assert [e.payload for e in replay(journal)] == [b"2"]


def test_a_parent_with_an_open_child_refuses_commit_and_the_block_rolls_it_all_back(journal):
    with pytest.raises(txjournal.InvalidStateError):
        with journal.begin() as tx:
            tx.append("t", "x", b"1")
            child = tx.begin()
            child.append("t", "x", b"2")
            with pytest.raises(txjournal.InvalidStateError):
                tx.append("t", "x", b"3")  # only the end of the child is accepted
            # the block ends with the child still open: commit refuses
    assert not tx.is_open and not child.is_open
    assert journal.next_offset == 0
    with journal.begin(wait=False) as tx:  # nothing is left holding the journal
        tx.append("t", "x", b"4")
    assert [e.payload for e in replay(journal)] == [b"4"]


def test_an_open_transaction_collected_by_the_garbage_collector_rolls_back(journal):
    tx = journal.begin()
    tx.append("t", "x", b"lost")
    del tx
    gc.collect()
    with journal.begin(wait=False) as tx:
        tx.append("t", "x", b"kept")
    assert [e.payload for e in replay(journal)] == [b"kept"]


def test_another_thread_waits_for_begin_and_fails_fast_with_wait_false_or_a_timeout(journal):
    tx = journal.begin()
    results = {}

    def other():
        try:
            journal.begin(wait=False)
        except txjournal.BusyError as e:
            results["busy"] = e
        try:
            journal.begin(timeout=0.01)
        except txjournal.TimedOutError as e:
            results["timed_out"] = e
        with journal.begin(timeout=HANG_LIMIT) as t2:  # waits for tx to end
            t2.append("t", "x", b"second")

    th = threading.Thread(target=other)
    th.start()
    while len(results) < 2 and th.is_alive():
        th.join(0.01)
    tx.append("t", "x", b"first")
    tx.commit()
    th.join(HANG_LIMIT)
    assert not th.is_alive()
    assert set(results) == {"busy", "timed_out"}
    assert isinstance(results["timed_out"], TimeoutError)
    assert [e.payload for e in replay(journal)] == [b"first", b"second"]


def test_the_thread_holding_the_transaction_gets_invalid_state_instead_of_waiting_for_itself(journal):
    with journal.begin() as tx:
        tx.append("t", "x", b"1")
        with pytest.raises(txjournal.InvalidStateError):
            journal.begin()


def test_threads_committing_durably_at_once_all_get_dense_offsets(jdir):
    with txjournal.open(jdir, durability="commit", segment_size=256 * 1024) as j:
        infos = []
        lock = threading.Lock()

        def writer(n):
            for i in range(10):
                with j.begin(timeout=HANG_LIMIT) as tx:
                    tx.append("w", str(n), f"{n}:{i}".encode())
                    tx.append("w", str(n), f"{n}:{i}+".encode())
                with lock:
                    infos.append(tx.commit_info)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG_LIMIT)
        events = replay(j)
    assert [e.offset for e in events] == list(range(80))
    assert sorted(i.first_offset for i in infos) == list(range(0, 80, 2))
    by_txn = {}
    for e in events:
        by_txn.setdefault(e.txn_id, []).append(e.payload)
    assert all(len(v) == 2 and v[1] == v[0] + b"+" for v in by_txn.values())


def test_payloads_and_keys_take_bytes_like_objects_and_str_and_come_back_as_bytes(journal):
    with journal.begin() as tx:
        tx.append("t", "x", bytearray(b"ba"), key=memoryview(b"mv"))
        tx.append("t", "x", "héllo", key=b"\x00\xff")
        tx.append("t", "x", b"", timestamp_ns=123)
    a, b, c = replay(journal)
    assert (a.payload, a.key) == (b"ba", b"mv")
    assert (b.payload, b.key) == ("héllo".encode(), b"\x00\xff")
    assert c.payload == b"" and c.timestamp_ns == 123 and c.timestamp == pytest.approx(123e-9)
    assert a.timestamp_ns == b.timestamp_ns  # one timestamp per transaction


def test_close_while_another_thread_waits_in_begin_refuses_instead_of_hanging(journal):
    tx = journal.begin()
    waiting = threading.Event()
    got = []

    def other():
        waiting.set()
        with journal.begin(timeout=HANG_LIMIT) as t2:
            t2.append("t", "x", b"after")
        got.append(t2.commit_info)

    th = threading.Thread(target=other)
    th.start()
    waiting.wait(HANG_LIMIT)
    with pytest.raises(txjournal.InvalidStateError, match="still open"):
        journal.close()  # this thread's transaction is open
    tx.rollback()
    th.join(HANG_LIMIT)
    assert not th.is_alive() and len(got) == 1
    journal.close()


def test_ctrl_c_ends_a_begin_waiting_for_another_threads_transaction(journal):
    import os
    import signal

    holding = threading.Event()
    release = threading.Event()

    def holder():
        with journal.begin() as tx:
            tx.append("t", "x", b"held")
            holding.set()
            release.wait(HANG_LIMIT)

    th = threading.Thread(target=holder)
    th.start()
    holding.wait(HANG_LIMIT)
    interrupt = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    # A process started with SIGINT ignored (a background job of a script)
    # would never see it: install Python's handler for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupt.start()
            journal.begin()
        assert th.is_alive()  # interrupted while the other transaction was still open
    finally:
        interrupt.join()
        signal.signal(signal.SIGINT, previous)
    release.set()
    th.join(HANG_LIMIT)
    assert [e.payload for e in replay(journal)] == [b"held"]


def test_append_batch_appends_every_event_in_order_and_a_bad_one_appends_none(journal):
    with journal.begin() as tx:
        tx.append_batch([("orders", "created", b"a"), ("orders", "created", "b", b"k"), ("stock", "moved", b"c", None)])
        with pytest.raises(txjournal.InvalidArgumentError) as bad:
            tx.append_batch([("orders", "created", b"d"), ("", "created", b"e")])
        assert "event 1 of a batch of 2" in str(bad.value)
        with pytest.raises(TypeError):
            tx.append_batch([("orders", "created")])
    events = list(journal.cursor(0))
    assert [(e.offset, e.topic, e.payload, e.key) for e in events] == [
        (0, "orders", b"a", None),
        (1, "orders", b"b", b"k"),
        (2, "stock", b"c", None),
    ]
