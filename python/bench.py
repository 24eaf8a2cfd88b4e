#!/usr/bin/env python3
"""Events per second through the Python binding, next to the C++ numbers.

    PYTHONPATH=build/python:python /usr/bin/python3 python/bench.py \
        [--cxx build/bench/journal-bench] [--dir /var/tmp] [--repetitions 3]

Workloads (the shapes of journal-bench, so the rows compare):
  append 100 B x100   durability "none", 100 events per transaction
  append 100 B x1     durability "none", one event per transaction
  append 100 B x100 sync   durability "commit" (fdatasync per commit)
  append 100 B x1 sync
  replay              300 000 events of 100 B (100 per transaction, ten
                      topics): iteration (one Event per __next__), one
                      topic of ten (events scanned per second), read_batch(256)

With --cxx it also runs `journal-bench --quick --workloads append,replay`
on the same machine right after, and prints the C++ median next to each row
(journal-bench's quick mode has no "100 B x1" row without sync). Figures
depend on the machine and its load: compare the ratios, not the absolute
numbers. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import txjournal

PAYLOAD = b"p" * 100


def append_rate(base: str, per_txn: int, durable: bool, seconds: float) -> tuple[float, float]:
    d = tempfile.mkdtemp(prefix="append-", dir=base)
    try:
        with txjournal.open(d + "/j", durability="commit" if durable else "none") as j:
            events = 0
            c0 = time.process_time()
            t0 = time.perf_counter()
            deadline = t0 + seconds
            while True:
                for _ in range(64 if not durable else 1):
                    with j.begin() as tx:
                        for _ in range(per_txn):
                            tx.append("bench", "e", PAYLOAD)
                    events += per_txn
                if time.perf_counter() >= deadline:
                    break
            wall = time.perf_counter() - t0
            return events / wall, events / max(time.process_time() - c0, 1e-9)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def replay_rates(base: str, n: int) -> dict[str, tuple[float, float]]:
    d = tempfile.mkdtemp(prefix="replay-", dir=base)
    try:
        with txjournal.open(d + "/j", durability="none") as j:
            topics = [f"topic-{k}" for k in range(10)]
            for _ in range(0, n, 100):
                with j.begin() as tx:
                    for k in range(100):
                        tx.append(topics[k % 10], "e", PAYLOAD)
            out = {}

            def timed(name, fn, count=None):
                c0, t0 = time.process_time(), time.perf_counter()
                got = fn()
                wall, cpu = time.perf_counter() - t0, max(time.process_time() - c0, 1e-9)
                k = count if count is not None else got
                out[name] = (k / wall, k / cpu)
                return got

            def batches():
                cur, got = j.cursor(0), 0
                while batch := cur.read_batch(256):
                    got += len(batch)
                return got

            timed("iterate", lambda: sum(1 for _ in j.cursor(0)))
            timed("one topic of ten (scanned)", lambda: sum(1 for _ in j.cursor(0, topics=["topic-3"])), n)
            got = timed("read_batch(256)", batches)
            assert got == n
            return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def cxx_rates(exe: str, base: str, reps: int) -> dict[str, float]:
    out_dir = tempfile.mkdtemp(prefix="journal-bench-out-", dir=base)
    try:
        subprocess.run(
            [exe, "--quick", "--workloads", "append,replay", "--repetitions", str(reps), "--dir", base,
             "--out", out_dir],
            check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out_dir, "results.json")) as f:
            r = json.load(f)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    rates = {}
    for row in r.get("append", []):
        if row["payload"] != 100 or row["nested"]:
            continue
        name = f"append 100 B x{row['per_txn']}" + (" sync" if row["durable"] else "")
        eng = row["events_per_second"].get("txjournal", {})
        if "median" in eng:
            rates[name] = eng["median"]
    rp = r.get("replay", {})
    rates["replay: iterate"] = rp.get("txjournal_events_per_second", 0)
    rates["replay: one topic of ten (scanned)"] = rp.get("txjournal_one_topic_of_ten_scanned_events_per_second", 0)
    rates["replay: read_batch(256)"] = rp.get("txjournal_batch_events_per_second", 0)
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/var/tmp", help="where journals are written (a real disk, not tmpfs)")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0, help="per append measurement")
    ap.add_argument("--replay-events", type=int, default=300_000)
    ap.add_argument("--cxx", help="path of journal-bench, to print the C++ figures alongside")
    args = ap.parse_args()

    base = tempfile.mkdtemp(prefix="txj-pybench-", dir=args.dir)
    try:
        rows: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.repetitions):
            for per_txn, durable in ((100, False), (1, False), (100, True), (1, True)):
                name = f"append 100 B x{per_txn}" + (" sync" if durable else "")
                rows.setdefault(name, []).append(append_rate(base, per_txn, durable, args.seconds))
            for k, v in replay_rates(base, args.replay_events).items():
                rows.setdefault("replay: " + k, []).append(v)
        cxx = cxx_rates(args.cxx, base, args.repetitions) if args.cxx else {}
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(f"txjournal {txjournal.__version__}, Python {sys.version.split()[0]}, "
          f"median of {args.repetitions}, events/s; 'CPU' divides by the process's CPU time "
          f"(less disturbed by other load; meaningless for the sync rows, which wait for the disk)")
    print("| workload | Python | Python, CPU time | C++ (journal-bench) | Python / C++ |")
    print("|---|---:|---:|---:|---:|")

    def num(x):
        return f"{x:,.0f}".replace(",", " ")

    for name, v in rows.items():
        py = statistics.median(w for w, _ in v)
        cpu = statistics.median(c for _, c in v)
        c = cxx.get(name)
        print(f"| {name} | {num(py)} | {num(cpu)} | {num(c) if c else '–'} | {f'{py / c:.2f}' if c else '–'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
