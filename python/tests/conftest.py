"""Shared fixtures of the txjournal Python tests.

Run with the build's module on the path, as `meson test --suite python`
does: PYTHONPATH=build/python:python /usr/bin/python3 -m pytest python/tests
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import txjournal

# Bounds a hang only: no assertion depends on how long anything takes.
HANG_LIMIT = 60.0


@pytest.fixture
def jdir(tmp_path):
    """A path for a new journal directory."""
    return tmp_path / "journal"


@pytest.fixture
def journal(jdir):
    """A new journal without fsync per commit (the tests that need durability open their own)."""
    with txjournal.open(jdir, durability="none", segment_size=256 * 1024) as j:
        yield j


def spawn(code: str, *args: str, **kwargs) -> subprocess.Popen:
    """Starts `code` in a new Python process (same interpreter and PYTHONPATH), pipes on stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        **kwargs,
    )


def replay(j: txjournal.Journal, offset: int = 0, **filters) -> list[txjournal.Event]:
    return list(j.cursor(offset, **filters))
