"""ARCHITECTURE.md's examples run as written: each ```python block of the file, in order, in one
fresh interpreter (so that the registrations they make do not leak into the other tests), each
block in a namespace of its own."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "ARCHITECTURE.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_examples_are_there():
    """Each kind of thing a reader may add has its section, and the section holds an example."""
    text = DOC.read_text()
    for kind in ("method", "attack", "detector", "recognizer", "metric"):
        section = re.search(rf"^### An? {kind}\n(.*?)(?=^##)", text, flags=re.S | re.M)
        assert section, f"ARCHITECTURE.md has no section '### A {kind}'"
        assert "```python\n" in section.group(1), f"the section on a new {kind} shows no example"


def test_every_example_runs():
    runner = textwrap.dedent("""
        import sys
        blocks = sys.argv[1:]
        for number, code in enumerate(blocks, 1):
            try:
                exec(compile(code, f"ARCHITECTURE.md example {number}", "exec"), {"__name__": f"example{number}"})
            except Exception:
                print(f"example {number} failed:\\n{code}", file=sys.stderr)
                raise
        print(f"{len(blocks)} examples ran")
    """)
    result = subprocess.run([sys.executable, "-c", runner, *blocks()], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"{len(blocks())} examples ran" in result.stdout
