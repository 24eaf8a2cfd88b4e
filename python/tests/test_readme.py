"""The README's Python example runs as written (with its journal in a
temporary directory), so the manual cannot drift from the package."""

from __future__ import annotations

import os
import pathlib
import re


def readme_python_blocks():
    root = pathlib.Path(os.environ.get("TXJ_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[2]))
    text = (root / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_python_example_runs(tmp_path, capsys):
    blocks = readme_python_blocks()
    assert blocks, "README.md has no ```python block"
    for block in blocks:
        assert "/var/lib/app/journal" in block
        code = block.replace("/var/lib/app/journal", str(tmp_path / "journal"))
        # The example waits up to 5 s for a commit nobody makes; the wait is
        # the same code path with a shorter bound.
        code = code.replace("timeout=5.0", "timeout=0.05")
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "orders" in out  # the replay printed the committed orders event
