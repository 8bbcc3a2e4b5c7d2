"""The cache folder: decoded face sets and trained weights, keyed by what determines them.

Every entry is a ``torch.save`` file named ``<kind>-<hash>.pt``: the hash covers everything that
determines the content, so a changed parameter gives a new entry and never a stale one. Files are
written to a temporary name and renamed, so an interrupted run never leaves a half-written entry,
and loaded with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from . import config


def key(*parts) -> str:
    """A short stable hash of JSON-serialisable ``parts`` (paths and numbers become strings)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def path_for(kind: str, *parts) -> Path:
    """The cache file for an entry of ``kind`` determined by ``parts``."""
    return config.cache_dir() / f"{kind}-{key(*parts)}.pt"


def save(obj, path: Path) -> None:
    """``torch.save`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load(path: Path):
    """Load a cache entry (tensors, dicts, lists of plain values only), or None when absent."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
