"""Compaction with the built-in latest-by-key compactor, rebuild with the
state hash, consumer offsets in the catalog."""

from __future__ import annotations

import pytest

import txjournal
from conftest import replay


def write_accounts(j, rounds=5):
    for r in range(rounds):
        with j.begin() as tx:
            for k in range(4):
                tx.append("accounts", "set", f"{k}={r}".encode(), key=f"acct-{k}")
            tx.append("audit", "round", str(r).encode())
            if r == 3:
                tx.append("accounts", "tombstone", b"", key="acct-0")


def test_compaction_keeps_the_state_hash_of_the_full_history_and_leaves_other_topics_alone(tmp_path):
    full = tmp_path / "full"
    compacted = tmp_path / "compacted"
    with txjournal.open(full, durability="none", segment_size=64 * 1024) as j:
        write_accounts(j)
        j.register_compactor("accounts", txjournal.LatestByKey())
        expected = j.rebuild("accounts")
    assert expected.values == {b"acct-1": b"1=4", b"acct-2": b"2=4", b"acct-3": b"3=4", b"acct-0": b"0=4"}
    assert expected.state_hash == txjournal.state_hash(expected.encoded)

    with txjournal.open(compacted, durability="none", segment_size=64 * 1024) as j:
        j.register_compactor("accounts", txjournal.LatestByKey())
        write_accounts(j, 3)
        snap = j.compact("accounts")
        assert snap.topic == "accounts" and snap.compactor == "latest-by-key" and snap.covered_offset > 0
        write_accounts(j, 2)  # the two rounds after the snapshot (payloads differ: rounds 0 and 1)
        assert [s.covered_offset for s in j.snapshots("accounts")] == [snap.covered_offset]
        with pytest.raises(txjournal.TruncatedError):
            list(j.cursor(0, topics=["accounts"]))
        audit = [e.payload for e in j.cursor(0, topics=["audit"])]
        assert audit == [b"0", b"1", b"2", b"0", b"1"]
        state = j.rebuild("accounts")
        assert state.from_snapshot == snap.covered_offset and state.events_applied == 8
        assert state.values == {b"acct-0": b"0=1", b"acct-1": b"1=1", b"acct-2": b"2=1", b"acct-3": b"3=1"}
        topics = {t.name: t for t in j.topics()}
        assert set(topics) >= {"audit"}

    # The same events through a journal never compacted: same bytes, same hash.
    with txjournal.open(tmp_path / "same", durability="none") as j:
        write_accounts(j, 3)
        write_accounts(j, 2)
        same = j.rebuild("accounts", compactor=txjournal.LatestByKey())
    assert same.state_hash == state.state_hash and same.encoded == state.encoded


def test_compaction_without_a_registered_compactor_raises_not_found_and_keyless_events_are_refused(journal):
    with journal.begin() as tx:
        tx.append("accounts", "set", b"no key")
    with pytest.raises(txjournal.NotFoundError):
        journal.compact("accounts")
    journal.register_compactor("accounts", txjournal.LatestByKey(tombstone="gone"))
    with pytest.raises(txjournal.InvalidArgumentError, match="offset 0"):
        journal.rebuild("accounts")


def test_consumer_offsets_survive_a_reopen_and_commit_with_is_all_or_nothing(jdir):
    with txjournal.open(jdir, durability="none") as j:
        store = j.offset_store()
        assert store.load("billing") == 0
        store.save("billing", 7)

        def handler(kv):
            kv.put("totals", b"eur", b"12")
            assert kv.get("totals", "eur") == b"12"
            kv.delete("totals", "none-yet")

        store.commit_with("billing", 9, handler)
        kept = []

        def failing(kv):
            kept.append(kv)
            kv.put("totals", b"eur", b"999")
            raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            store.commit_with("billing", 10, failing)
        with pytest.raises(txjournal.InvalidStateError):
            kept[0].put("totals", b"x", b"y")  # only valid inside the callback
        assert store.load("billing") == 9
        assert store.get("totals", b"eur") == b"12"
        assert store.get("totals", b"usd") is None
    with pytest.raises(txjournal.ClosedError):
        store.load("billing")

    with txjournal.open(jdir, durability="none") as j:
        assert j.offset_store().load("billing") == 9
        assert j.offset_store().get("totals", "eur") == b"12"


def test_a_consumer_resumes_from_its_saved_offset(journal):
    for i in range(5):
        with journal.begin() as tx:
            tx.append("orders", "created", str(i).encode())
    store = journal.offset_store()
    seen = []
    for ev in journal.cursor(store.load("mailer")):
        seen.append(ev.payload)
        store.save("mailer", ev.offset + 1)
        if len(seen) == 2:
            break
    seen += [ev.payload for ev in journal.cursor(store.load("mailer"))]
    assert seen == [b"0", b"1", b"2", b"3", b"4"]
    assert replay(journal)[-1].offset == 4


def test_journal_and_store_calls_inside_a_commit_with_callback_raise_invalid_state(journal):
    store = journal.offset_store()

    def reentrant(kv):
        for call in (lambda: store.load("c"), lambda: store.save("c", 1), journal.close, journal.topics):
            with pytest.raises(txjournal.InvalidStateError, match="commit_with"):
                call()
        kv.put("t", b"k", b"v")

    store.commit_with("c", 5, reentrant)
    assert store.load("c") == 5 and store.get("t", b"k") == b"v"


def test_retention_reuses_retired_segment_files_unless_recycled_segments_is_zero(tmp_path):
    def run(path, recycled):
        with txjournal.open(path, durability="none", segment_size=64 * 1024, recycled_segments=recycled) as j:
            for round_ in range(30):
                with j.begin() as tx:
                    for i in range(40):
                        tx.append("log", "line", b"x" * 200 + str(round_ * 40 + i).encode())
                # The new segments reuse files once there are retired ones.
                if round_ > 5:
                    j.apply_retention(j.next_offset - 100)
            events = [e.payload for e in j.cursor(j.first_offset)]
            assert len(events) == j.next_offset - j.first_offset
            assert events[-1] == b"x" * 200 + b"1199"
        return sorted(p.suffix for p in path.iterdir() if p.suffix in (".seg", ".free"))

    kept = run(tmp_path / "kept", 2)
    removed = run(tmp_path / "removed", 0)
    assert ".free" not in removed
    assert kept.count(".seg") <= removed.count(".seg") + 2
