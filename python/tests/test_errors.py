"""Every failure is an exception of the txjournal.Error hierarchy, one class
per status code, carrying the C++ message; wrong Python types are TypeError."""

from __future__ import annotations

import os
import pathlib
import re

import pytest

import txjournal

ROOT = pathlib.Path(os.environ.get("TXJ_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[2]))


def test_there_is_one_exception_class_per_status_code_of_status_h():
    header = (ROOT / "include" / "txjournal" / "status.h").read_text()
    enum = header[header.index("enum class Code") : header.index("};", header.index("enum class Code"))]
    codes = {int(v): n for n, v in re.findall(r"\bk(\w+)\s*=\s*(\d+)", enum) if n != "Ok"}
    classes = {
        c.code: c
        for c in vars(txjournal).values()
        if isinstance(c, type) and issubclass(c, txjournal.Error) and c is not txjournal.Error
    }
    assert set(classes) == set(codes)
    for code, cls in classes.items():
        assert cls.code_name != "unknown"
        # InvalidArgument -> InvalidArgumentError, IOError -> IoError, ...
        assert cls.__name__.lower().replace("error", "") == codes[code].lower().replace("error", "")


def test_bad_options_raise_invalid_argument_naming_the_option(jdir):
    with pytest.raises(txjournal.InvalidArgumentError, match="durability"):
        txjournal.open(jdir, durability="sometimes")
    with pytest.raises(txjournal.InvalidArgumentError, match="segment"):
        txjournal.open(jdir, segment_size=1000)
    with pytest.raises(txjournal.InvalidArgumentError, match="sync_interval"):
        txjournal.open(jdir, durability="periodic", sync_interval=0)
    with pytest.raises(txjournal.InvalidArgumentError, match="segment_size"):
        txjournal.open(jdir, segment_size=-1)
    with pytest.raises(ValueError):  # InvalidArgumentError is a ValueError too
        txjournal.open(jdir, file_mode=0o7777)
    assert not jdir.exists()  # a failed create leaves nothing behind


def test_opening_a_missing_journal_without_create_raises_not_found(jdir):
    with pytest.raises(txjournal.NotFoundError) as e:
        txjournal.open(jdir, create=False)
    assert str(jdir) in str(e.value) and e.value.code == 3 and e.value.code_name == "not found"


def test_a_second_writable_open_raises_busy(journal, jdir):
    with pytest.raises(txjournal.BusyError, match="already open for writing"):
        txjournal.open(jdir)


def test_calls_on_an_ended_transaction_raise_invalid_state(journal):
    with journal.begin() as tx:
        tx.append("t", "x", b"1")
    with pytest.raises(txjournal.InvalidStateError):
        tx.append("t", "x", b"2")
    with pytest.raises(txjournal.InvalidStateError):
        tx.commit()
    with pytest.raises(txjournal.InvalidStateError):
        tx.begin()


def test_bad_event_fields_raise_invalid_argument_and_the_transaction_goes_on(journal):
    with journal.begin() as tx:
        with pytest.raises(txjournal.InvalidArgumentError, match="topic"):
            tx.append("", "x", b"1")
        with pytest.raises(txjournal.InvalidArgumentError):
            tx.append("t\n", "x", b"1")
        with pytest.raises(txjournal.InvalidArgumentError, match="key"):
            tx.append("t", "x", b"1", key=b"k" * 70000)
        tx.append("t", "x", b"ok")
    assert tx.commit_info.count == 1


def test_wrong_python_types_raise_type_error(journal):
    with journal.begin() as tx:
        with pytest.raises(TypeError, match="payload"):
            tx.append("t", "x", 42)
        with pytest.raises(TypeError, match="key"):
            tx.append("t", "x", b"1", key=7)
        with pytest.raises(TypeError):
            tx.append(b"t", "x", b"1")
    with pytest.raises(TypeError, match="single string"):
        journal.cursor(0, topics="orders")
    with pytest.raises(TypeError):
        txjournal.open(journal.dir, segment_size=65536.5)


def test_cursor_arguments_that_mean_nothing_raise_invalid_argument(journal):
    with pytest.raises(txjournal.InvalidArgumentError, match="filter"):
        journal.cursor(0, topics=[])
    with pytest.raises(txjournal.InvalidArgumentError, match="timeout"):
        journal.cursor(0).wait_next(timeout=-1)
    with pytest.raises(txjournal.InvalidArgumentError, match="timeout"):
        journal.begin(timeout=float("nan"))


def test_a_schema_refuses_other_topics_and_types(jdir):
    with txjournal.open(jdir, durability="none", schema={"orders": ["created"]}) as j:
        with j.begin() as tx:
            with pytest.raises(txjournal.InvalidArgumentError):
                tx.append("stock", "created", b"1")
            with pytest.raises(txjournal.InvalidArgumentError):
                tx.append("orders", "deleted", b"1")
            tx.append("orders", "created", b"1")
        with pytest.raises(txjournal.InvalidArgumentError):
            j.cursor(0, topics=["stock"])


def test_a_read_only_journal_refuses_writes_with_invalid_state(journal, jdir):
    with txjournal.open(jdir, read_only=True) as ro:
        assert ro.read_only
        with pytest.raises(txjournal.InvalidStateError):
            ro.begin()
        with pytest.raises(txjournal.InvalidStateError):
            ro.offset_store()


def test_a_closed_journal_raises_closed_and_a_cursor_opened_before_still_reads_what_was_committed(jdir):
    j = txjournal.open(jdir, durability="none")
    cur = j.cursor(0)
    with j.begin() as tx:
        tx.append("t", "x", b"1")
    j.close()
    j.close()  # idempotent
    assert j.closed
    for call in (j.begin, lambda: j.cursor(0), j.sync, j.topics, lambda: j.compact("t")):
        with pytest.raises(txjournal.ClosedError, match="closed"):
            call()
    # As in C++: the journal object still exists (the cursor keeps it), so
    # the cursor reads what was committed; ClosedError is for the cursor's
    # own close (test_cursors.py).
    assert [e.payload for e in cur] == [b"1"]


def test_closing_with_an_open_transaction_raises_invalid_state(journal):
    tx = journal.begin()
    with pytest.raises(txjournal.InvalidStateError, match="still open"):
        journal.close()
    tx.rollback()
    journal.close()


def test_history_dropped_by_retention_raises_truncated(journal):
    for i in range(4):
        with journal.begin() as tx:
            tx.append("t", "x", str(i).encode())
    journal.apply_retention(2)
    assert journal.first_offset == 2
    with pytest.raises(txjournal.TruncatedError):
        journal.cursor(0)
    assert [e.offset for e in journal.cursor(2)] == [2, 3]
    with pytest.raises(txjournal.InvalidArgumentError):
        journal.apply_retention(99)


def test_damaged_records_raise_corruption_naming_the_file(jdir):
    with txjournal.open(jdir, durability="commit", segment_size=64 * 1024) as j:
        for i in range(40):
            with j.begin() as tx:
                tx.append("t", "x", b"P" * 1000 + str(i).encode())
    seg = sorted(p for p in jdir.iterdir() if p.suffix == ".seg")[0]
    data = bytearray(seg.read_bytes())
    at = data.index(b"P" * 1000)  # inside the first event's payload
    data[at + 10] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(txjournal.CorruptionError) as e:
        with txjournal.open(jdir, read_only=True) as j:
            list(j.cursor(0))
    assert seg.name in str(e.value)
    assert isinstance(e.value, txjournal.Error) and e.value.message == str(e.value)


def test_the_path_may_be_str_bytes_or_path_like(tmp_path):
    for i, path in enumerate([str(tmp_path / "s"), bytes(tmp_path / "b"), tmp_path / "p"]):
        with txjournal.open(path, durability="none") as j:
            assert j.dir == str(tmp_path / "sbp"[i])
    with pytest.raises(TypeError):
        txjournal.open(42)
