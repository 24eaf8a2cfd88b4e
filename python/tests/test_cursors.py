"""Cursors as iterators, filters, waiting for commits in this process and
in another one."""

from __future__ import annotations

import threading

import pytest

import txjournal
from conftest import HANG_LIMIT, replay, spawn


def fill(j, n=6):
    with j.begin() as tx:
        for i in range(n):
            topic = "orders" if i % 2 == 0 else "stock"
            kind = "created" if i % 3 == 0 else "updated"
            tx.append(topic, kind, str(i).encode(), key=f"k{i % 2}")


def test_a_cursor_iterates_committed_events_with_topic_and_type_filters(journal):
    fill(journal)
    assert [e.payload for e in journal.cursor(0, topics=["orders"])] == [b"0", b"2", b"4"]
    assert [e.payload for e in journal.cursor(0, types=["created"])] == [b"0", b"3"]
    assert [e.offset for e in journal.cursor(0, topics=["orders"], types=["created"])] == [0]
    assert [e.offset for e in journal.cursor(3)] == [3, 4, 5]
    assert [e.offset for e in journal.cursor(0, topics=("orders", "stock"))] == list(range(6))


def test_iteration_stops_at_the_end_and_goes_on_after_the_next_commit(journal):
    cur = journal.cursor(0)
    assert list(cur) == [] and cur.next() is None
    fill(journal, 2)
    assert [e.offset for e in cur] == [0, 1]
    assert cur.position == 2
    fill(journal, 1)
    assert [e.offset for e in cur] == [2]


def test_events_stay_valid_after_the_cursor_moved_on(journal):
    fill(journal, 3)
    cur = journal.cursor(0)
    first = cur.next()
    rest = list(cur)
    assert first.payload == b"0" and first.topic == "orders" and first.key == b"k0"
    assert [e.payload for e in rest] == [b"1", b"2"]
    assert first == replay(journal)[0]


def test_read_batch_returns_the_same_events_as_iteration(journal):
    fill(journal, 6)
    cur = journal.cursor(0)
    got = cur.read_batch(4) + cur.read_batch(4)
    assert cur.read_batch(4) == []
    assert got == replay(journal)


def test_wait_next_returns_none_when_the_timeout_passes(journal):
    assert journal.cursor(0).wait_next(timeout=0.01) is None
    assert journal.cursor(0).wait_next(timeout=0) is None


def test_wait_next_is_woken_by_a_commit_of_another_thread(journal):
    cur = journal.cursor(0, topics=["orders"])
    started = threading.Event()

    def writer():
        started.wait(HANG_LIMIT)
        with journal.begin() as tx:
            tx.append("stock", "x", b"not for this cursor")
        with journal.begin() as tx:
            tx.append("orders", "created", b"woken")

    th = threading.Thread(target=writer)
    th.start()
    started.set()
    ev = cur.wait_next(timeout=HANG_LIMIT)  # the GIL is released while it waits
    th.join(HANG_LIMIT)
    assert ev is not None and ev.payload == b"woken" and ev.offset == 1


def test_closing_a_cursor_from_another_thread_ends_its_wait_with_closed_error(journal):
    cur = journal.cursor(0)
    closer = threading.Timer(0.05, cur.close)
    closer.start()
    with pytest.raises(txjournal.ClosedError):
        cur.wait_next(timeout=HANG_LIMIT)
    closer.join()
    with pytest.raises(txjournal.ClosedError):
        cur.next()


WRITER = """
import sys, txjournal
with txjournal.open(sys.argv[1], durability="commit") as j:
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    with j.begin() as tx:
        tx.append("orders", "created", b"from another process", key="o-9")
    print("committed", tx.commit_info.first_offset, flush=True)
    sys.stdin.readline()  # keeps the journal open until the reader is done
"""


def test_a_cursor_in_one_process_is_woken_by_a_commit_in_another(jdir):
    txjournal.open(jdir).close()  # create it, so the reader can open it read-only
    child = spawn(WRITER, str(jdir))
    try:
        assert child.stdout.readline().strip() == "ready"
        with txjournal.open(jdir, read_only=True) as reader:
            cur = reader.cursor(0)
            assert cur.next() is None
            # "go" is sent from a timer so that, most likely, the reader is
            # already waiting; either way it must get the event.
            go = threading.Timer(0.2, lambda: (child.stdin.write("go\n"), child.stdin.flush()))
            go.start()
            ev = cur.wait_next(timeout=HANG_LIMIT)
            go.join()
            assert ev is not None, "no event within the hang limit"
            assert (ev.offset, ev.payload, ev.key) == (0, b"from another process", b"o-9")
            assert child.stdout.readline().split() == ["committed", "0"]
        child.stdin.write("done\n")
        child.stdin.flush()
        assert child.wait(HANG_LIMIT) == 0
    finally:
        if child.poll() is None:
            child.kill()
        with child:  # waits, closes the pipes
            pass


def test_ctrl_c_ends_a_wait_next_without_timeout_with_keyboard_interrupt(journal):
    import os
    import signal

    cur = journal.cursor(0)
    interrupt = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    # A process started with SIGINT ignored (a background job of a script)
    # would never see it: install Python's handler for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupt.start()
            cur.wait_next()
    finally:
        interrupt.join()
        signal.signal(signal.SIGINT, previous)
    with journal.begin() as tx:  # the cursor is still usable
        tx.append("t", "x", b"after")
    assert cur.wait_next(timeout=HANG_LIMIT).payload == b"after"


def test_next_and_dunder_next_and_iteration_agree_and_raise_the_same_errors(journal):
    fill(journal, 4)
    a, b, c = journal.cursor(0), journal.cursor(0), journal.cursor(0)
    assert [next(a), next(a)] == [b.__next__(), b.__next__()] == [c.next(), c.next()]
    assert list(a) == [b.__next__(), b.__next__()]
    with pytest.raises(StopIteration):
        next(a)
    with pytest.raises(StopIteration):
        b.__next__()
    c.close()
    with pytest.raises(txjournal.ClosedError):
        next(c)
    with pytest.raises(txjournal.ClosedError):
        for _ in c:
            pass
