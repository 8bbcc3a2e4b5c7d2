"""The trained networks of one or more model caches, by state-dict hash, to check that a refactor
left them bit-identical (the cache's file names may change with its keys; the weights must not).

    python .ci/network_hashes.py old/_build/facedid-cache new/_build/facedid-cache

For each cache: one line per trained network (``kind  hash  file``), the hash a SHA-256 over every
tensor of the stored entry in key order, training histories and timings left out. Data caches
(decoded faces, gallery descriptors, measured expressions) are skipped.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch

DATA_KINDS = ("faces", "dlib-gallery", "sface-gallery", "expression", "gan-described")


def tensors(obj, prefix: str = ""):
    """``(path, tensor)`` of every tensor in nested dicts, lists and tuples, dict keys sorted."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from tensors(obj[key], f"{prefix}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from tensors(value, f"{prefix}/{i}")


def digest(path: Path) -> str:
    entry = torch.load(path, map_location="cpu", weights_only=False)
    h = hashlib.sha256()
    for name, tensor in tensors(entry):
        if "history" not in name and "seconds" not in name:
            h.update(name.encode())
            h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main(folders: list[str]) -> None:
    for folder in folders:
        print("==", folder)
        for path in sorted(Path(folder).glob("*.pt")):
            kind = path.name.rsplit("-", 1)[0]
            if kind not in DATA_KINDS:
                print(f"{kind:16s} {digest(path)}  {path.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
