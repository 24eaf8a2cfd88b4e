"""txjournal: an embedded transactional journal with nested transactions.

    import txjournal

    with txjournal.open("/tmp/j") as journal:
        with journal.begin() as tx:              # commits at the end of the block
            tx.append("orders", "created", b'{"id": 1}', key="o-1")
            try:
                with tx.begin() as sub:          # a sub-transaction, any depth
                    sub.append("stock", "reserved", b"sku-7")
                    raise ValueError("out of stock")
            except ValueError:
                pass                             # sub rolled back; tx goes on
        print(tx.commit_info)                    # txn_id, first_offset, count, lsn

        for ev in journal.cursor(0, topics=["orders"]):
            print(ev.offset, ev.topic, ev.type, ev.key, ev.payload)

Errors are exceptions: every failing call raises a subclass of
txjournal.Error, one per status code of the C++ API (include/txjournal/status.h),
carrying its message (which names the file, byte offset, LSN or transaction).
Wrong Python types raise TypeError.

Events are named tuples (offset, txn_id, topic, type, key, payload,
timestamp_ns, lsn) with a timestamp attribute (float seconds), and copies:
topic and type are str, key and payload bytes, copied out
of the journal's mapping when read, so an Event stays valid for as long as it
is kept (the C++ views die at the cursor's next call, which Python code could
not be held to). Payloads and keys are taken as bytes-like objects or str
(encoded as UTF-8); they always come back as bytes.

The GIL is released while a call may block: open, begin, a durable commit,
rollback, wait_next, compact, rebuild, apply_retention, sync, close and the
offset store's catalog writes.
"""

from __future__ import annotations

import pkgutil as _pkgutil

# In a build tree the extension is in build/python/txjournal/ while this file
# is in the source tree: let the package span both (no-op when installed).
__path__ = _pkgutil.extend_path(__path__, __name__)  # type: ignore[name-defined]

from . import _txjournal  # noqa: E402
from ._txjournal import (  # noqa: E402,F401
    CommitInfo,
    Cursor,
    Event,
    KvTxn,
    LatestByKey,
    OffsetStore,
    RebuiltState,
    RecoveryReport,
    SnapshotInfo,
    TopicInfo,
    state_hash,
)

__version__: str = _txjournal.__version__
FORMAT_VERSION: int = _txjournal.FORMAT_VERSION


# ---- errors: one class per txj::Code -----------------------------------------


class Error(Exception):
    """Base of every error the journal reports.

    Attributes: ``message`` (what failed and where), ``code`` (the numeric
    txj::Code), ``code_name`` (its stable name, such as "corruption").
    """

    code: int = 0
    code_name: str = "unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(Error, ValueError):
    """The caller passed something unusable (an option value, a name, a size)."""

    code = 1


class InvalidStateError(Error):
    """The call is not allowed now (ended transaction, open child, read-only journal, ...)."""

    code = 2


class NotFoundError(Error):
    """A named thing does not exist (journal directory, compactor, ...)."""

    code = 3


class CorruptionError(Error):
    """Stored data is damaged; the message names the file and byte offset."""

    code = 4


class TruncatedError(Error):
    """The requested history was dropped (compaction, retention)."""

    code = 5


class ClosedError(Error):
    """The cursor or journal is closed."""

    code = 6


class BusyError(Error):
    """Another writer holds the journal, or the write transaction (begin(wait=False))."""

    code = 7


class TimedOutError(Error, TimeoutError):
    """A deadline passed (begin(timeout=...))."""

    code = 8


class CancelledError(Error):
    """An operation was cancelled."""

    code = 9


class IoError(Error):
    """The operating system reported an error (named IoError so as not to shadow the builtin IOError)."""

    code = 10


class NoSpaceError(Error):
    """The file system is full (ENOSPC, EDQUOT)."""

    code = 11


class NotSupportedError(Error):
    """A format or feature version this build does not know."""

    code = 12


class FailedError(Error):
    """The journal failed closed after a sync error: reopen it to see what survived."""

    code = 13


_ERRORS = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        InvalidStateError,
        NotFoundError,
        CorruptionError,
        TruncatedError,
        ClosedError,
        BusyError,
        TimedOutError,
        CancelledError,
        IoError,
        NoSpaceError,
        NotSupportedError,
        FailedError,
    )
}
for _code, _name in _txjournal._code_names().items():
    if _code in _ERRORS:
        _ERRORS[_code].code_name = _name
_txjournal._set_error_classes(_ERRORS)


# ---- transactions ------------------------------------------------------------


def _tx_enter(self: Transaction) -> Transaction:
    return self


def _tx_exit(self: Transaction, exc_type, exc, tb) -> bool:
    if not self.is_open:
        return False  # committed or rolled back inside the block
    if exc_type is None:
        try:
            self.commit()
        except BaseException:
            # Do not leave the tree open (a traceback keeps this handle
            # alive, and an open top level blocks the next begin()).
            self._discard()
            raise
        return False
    # Rolls back this level and any descendant left open in the block.
    self._discard()
    return False


Transaction = _txjournal.Transaction
Transaction.__enter__ = _tx_enter
Transaction.__exit__ = _tx_exit
Transaction.__doc__ = """A write transaction (top level from Journal.begin(), nested from Transaction.begin()).

As a context manager it commits when the block ends normally and rolls back
(then lets the exception go on) when it ends with an exception; a handle
committed or rolled back inside the block is left as it is. commit_info holds
the CommitInfo after a commit. Rolling back a sub-transaction discards its
events and those of its descendants; the parent goes on. While a transaction
has an open child it accepts nothing but the end of that child
(InvalidStateError). A handle that is garbage-collected while open rolls back.
A transaction tree is used by one thread at a time: concurrent use from
another thread raises InvalidStateError.
"""

Cursor.__doc__ = """A cursor over committed events, in commit order, with dense offsets.

Iterating yields the events committed so far and stops at the end; iterate
again (or call wait_next) to get events committed later. next() returns None
at the end; wait_next(timeout) waits for the next matching commit, in this
process or another, and returns None when the timeout (seconds) passes.
read_batch(max) returns up to max events at once (the fast way to replay).
A cursor is read by one thread at a time; close() may come from any thread
and ends a waiting wait_next with ClosedError.
"""


def _cursor_enter(self: Cursor) -> Cursor:
    return self


def _cursor_exit(self: Cursor, exc_type, exc, tb) -> bool:
    self.close()
    return False


Cursor.__enter__ = _cursor_enter
Cursor.__exit__ = _cursor_exit


# ---- journal -----------------------------------------------------------------


def _journal_enter(self: Journal) -> Journal:
    return self


def _journal_exit(self: Journal, exc_type, exc, tb) -> bool:
    try:
        self.close()
    except Error as e:
        if exc is None:
            raise
        if hasattr(exc, "add_note"):  # Python 3.11
            exc.add_note(f"txjournal: closing the journal failed too: {e}")
    return False


Journal = _txjournal.Journal
Journal.__enter__ = _journal_enter
Journal.__exit__ = _journal_exit
Journal.__doc__ = """An open journal (from txjournal.open). As a context manager it closes at the end.

Shared by threads freely; one top-level write transaction at a time
(begin() waits for another thread's, begin(wait=False) raises BusyError,
begin(timeout=s) raises TimedOutError). One writing process per journal.
Objects made from it (transactions, cursors, offset stores) keep it alive;
after close() they answer ClosedError.
"""


def open(  # noqa: A001 - the package's entry point, as sqlite3.connect / dbm.open
    path,
    *,
    durability: str = "commit",
    segment_size: int | None = None,
    read_only: bool = False,
    create: bool = True,
    error_if_exists: bool = False,
    sync_interval: float | None = None,
    pad_commits_to_page: bool = True,
    file_mode: int = 0o600,
    schema: dict[str, list[str]] | None = None,
    rebuild_catalog: bool = False,
    poll_interval: float | None = None,
    recycled_segments: int = 2,
    huge_pages: bool = True,
) -> Journal:
    """Opens (by default creating) the journal in directory ``path``, recovering from a crash if needed.

    durability: "commit" (commit returns once durable, the default), "none"
    (survives a process crash, not a machine crash) or "periodic" (a
    background sync every ``sync_interval`` seconds, default 0.1).
    segment_size: bytes per segment file, fixed at creation (multiple of
    4096, at least 64 KiB; default 64 MiB). read_only: takes no lock and
    repairs nothing. create: create the directory if missing (else
    NotFoundError). schema: topic -> event types it may hold.
    recycled_segments: retired segment files (removed by retention or
    compaction) kept to be reused as new segments; 0 removes them.
    huge_pages: under durability "none", map new segments with transparent
    huge pages (faster appends; a sync() then writes whole 2 MiB pieces).

    Raises BusyError (another process writes it), NotFoundError,
    InvalidArgumentError (an option naming itself), CorruptionError,
    NotSupportedError, IoError, NoSpaceError.
    """
    return _txjournal.open(
        path,
        durability=durability,
        segment_size=segment_size,
        read_only=read_only,
        create=create,
        error_if_exists=error_if_exists,
        sync_interval=sync_interval,
        pad_commits_to_page=pad_commits_to_page,
        file_mode=file_mode,
        schema=schema,
        rebuild_catalog=rebuild_catalog,
        poll_interval=poll_interval,
        recycled_segments=recycled_segments,
        huge_pages=huge_pages,
    )


__all__ = [
    "open",
    "Journal",
    "Transaction",
    "Cursor",
    "Event",
    "CommitInfo",
    "SnapshotInfo",
    "TopicInfo",
    "RebuiltState",
    "RecoveryReport",
    "LatestByKey",
    "OffsetStore",
    "KvTxn",
    "state_hash",
    "Error",
    "InvalidArgumentError",
    "InvalidStateError",
    "NotFoundError",
    "CorruptionError",
    "TruncatedError",
    "ClosedError",
    "BusyError",
    "TimedOutError",
    "CancelledError",
    "IoError",
    "NoSpaceError",
    "NotSupportedError",
    "FailedError",
]
