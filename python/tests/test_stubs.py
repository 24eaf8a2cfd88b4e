"""The type stubs (txjournal/__init__.pyi) describe what the package has:
every class, function, method and property they name exists at run time,
and every public name of the package is in them."""

from __future__ import annotations

import ast
import pathlib
import pickle

import txjournal

STUB = pathlib.Path(txjournal.__file__).with_name("__init__.pyi")


def stub_tree():
    return ast.parse(STUB.read_text())


def test_every_name_in_the_stubs_exists_at_run_time():
    missing = []
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(txjournal, node.name, None) or getattr(txjournal._txjournal, node.name, None)
            if cls is None:
                missing.append(node.name)
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not hasattr(cls, item.name):
                    missing.append(f"{node.name}.{item.name}")
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    if item.target.id not in ("code", "code_name", "message") and not hasattr(cls, item.target.id):
                        missing.append(f"{node.name}.{item.target.id}")
        elif isinstance(node, ast.FunctionDef) and not hasattr(txjournal, node.name):
            missing.append(node.name)
    assert missing == []


def test_every_public_name_of_the_package_is_in_the_stubs():
    named = set()
    for node in stub_tree().body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            named.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            named.add(node.target.id)
    assert set(txjournal.__all__) - named == set()


def test_events_pickle_and_compare_as_named_tuples(journal):
    with journal.begin() as tx:
        tx.append("t", "x", b"payload", key=b"k")
    ev = journal.cursor(0).next()
    assert pickle.loads(pickle.dumps(ev)) == ev
    offset, txn_id, topic, type_, key, payload, timestamp_ns, lsn = ev
    assert (offset, topic, type_, key, payload) == (0, "t", "x", b"k", b"payload")
    assert ev.timestamp == timestamp_ns / 1e9 and lsn == ev.lsn and txn_id == ev.txn_id
