"""Every number the notebooks print, as text, to compare two runs of the book (a refactor must leave
them unchanged).

    python .ci/notebook_numbers.py dump _build/.jupyter_cache numbers/     # from the book's cache
    python .ci/notebook_numbers.py dump book/ numbers/                     # from executed notebooks
    python .ci/notebook_numbers.py compare numbers-before/ numbers-after/

``dump`` writes one text file per notebook (named by the notebook's file name, which is unique in
the book; a name ``chapter__name.ipynb`` counts as ``name.ipynb``): for each code cell, its standard output and the plain
text and Markdown of its displayed results (tables, printed lines); images, widgets and standard
error (progress bars) are left out. ``compare`` prints a unified diff per notebook and exits 1 where
any differs, 2 where a notebook is missing on one side.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

import nbformat

TEXT_TYPES = ("text/plain", "text/markdown")


def cell_text(cell) -> list[str]:
    lines = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            lines.append(output["text"] if isinstance(output["text"], str) else "".join(output["text"]))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            for mime in TEXT_TYPES:
                if mime in data and not ("application/vnd.jupyter.widget-view+json" in data or "image/png" in data):
                    text = data[mime]
                    lines.append(text if isinstance(text, str) else "".join(text))
                    break
        elif kind == "error":
            lines.append(f"ERROR {output.get('ename')}: {output.get('evalue')}\n")
    return lines


def notebook_text(nb) -> str:
    parts = []
    for index, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        text = cell_text(cell)
        if text:
            parts.append(f"### code cell {index}\n" + "".join(t if t.endswith("\n") else t + "\n" for t in text))
    return "".join(parts)


def notebooks(source: Path):
    """(name, notebook) pairs from a jupyter-cache folder or a folder of executed notebooks."""
    if (source / "global.db").exists():
        from jupyter_cache import get_cache

        cache = get_cache(str(source))
        for record in cache.list_cache_records():
            bundle = cache.get_cache_bundle(record.pk)
            yield Path(bundle.record.uri).name, bundle.nb
    else:
        for path in sorted(source.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            yield path.name.rpartition("__")[2], nbformat.read(path, as_version=4)


def dump(source: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, nb in notebooks(source):
        (out / (name + ".txt")).write_text(notebook_text(nb))
        count += 1
    print(f"{count} notebooks dumped to {out}")
    return 0 if count else 2


def compare(before: Path, after: Path) -> int:
    a = {p.name: p for p in before.glob("*.txt")}
    b = {p.name: p for p in after.glob("*.txt")}
    status = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in {'before' if name in a else 'after'}")
            status = 2
            continue
        diff = list(difflib.unified_diff(a[name].read_text().splitlines(), b[name].read_text().splitlines(),
                                         f"before/{name}", f"after/{name}", lineterm="", n=1))
        if diff:
            status = max(status, 1)
            print("\n".join(diff))
        else:
            print(f"{name}: unchanged")
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("source", type=Path)
    d.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dump":
        return dump(args.source, args.out)
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
