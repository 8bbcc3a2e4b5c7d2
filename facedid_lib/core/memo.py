"""Remembered outputs of a deterministic black box, one per input, keyed by the input's bytes.

The compiled recognizers (dlib's, 88 ms a face on this CPU; SFace's, 22 ms) are asked about the
same faces again and again: the clean test faces of every table, the gallery of every notebook. A
:class:`PerInput` remembers each face's output under a hash of its exact pixels (and of whatever
else determines the output: the model's file), in this process and in the cache folder, so a face
is computed once per cache. It is only for outputs that depend on the one input alone (dlib
describes each face of a batch on its own; SFace runs one face per forward pass), so a remembered
output has the same bits as a computed one.

Example
-------
>>> calls = []
>>> square = PerInput("demo-square", width=1, dtype=np.float64, store=False)
>>> def compute(items):
...     calls.append(len(items))
...     return np.array([[float(item.sum()) ** 2] for item in items])
>>> items = [np.full(3, 1, np.uint8), np.full(3, 2, np.uint8)]
>>> square(items, compute).ravel().tolist(), square(items[::-1], compute).ravel().tolist(), calls
([9.0, 36.0], [36.0, 9.0], [2])
>>> with disabled():
...     _ = square(items, compute)
>>> calls
[2, 2]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from facedid_lib.core import config

__all__ = ["PerInput", "disabled"]

_off = 0


@contextlib.contextmanager
def disabled():
    """Within the block every :class:`PerInput` computes everything anew and remembers nothing (for a
    test that must see the black box itself run)."""
    global _off
    _off += 1
    try:
        yield
    finally:
        _off -= 1


class PerInput:
    """Outputs of ``compute(items) -> (N, width)`` remembered per item.

    Parameters
    ----------
    kind : names the black box (and its folder in the cache, ``<cache>/memo-<kind>/``).
    width, dtype : each output row's length and type.
    salt : whatever else determines the output (a model file's path), hashed with each item.
    store : also keep the outputs in the cache folder (:func:`facedid_lib.core.config.cache_dir`),
        for the next process; the rows a call computes are written as one file, atomically.
    limit : the most rows kept in memory (the oldest are forgotten first).
    """

    def __init__(self, kind: str, width: int, dtype=np.float64, salt: str = "", store: bool = True,
                 limit: int = 200_000):
        self.kind, self.width, self.dtype = kind, int(width), np.dtype(dtype)
        self.salt, self.store, self.limit = str(salt), bool(store), int(limit)
        self._rows: dict[str, np.ndarray] = {}
        self._loaded: set[Path] = set()

    def _key(self, item: np.ndarray) -> str:
        item = np.ascontiguousarray(item)
        digest = hashlib.blake2b(digest_size=20)
        digest.update(f"{self.salt}|{item.dtype.str}|{item.shape}|".encode())
        digest.update(item.tobytes())
        return digest.hexdigest()

    def _folder(self) -> Path:
        return config.cache_dir() / f"memo-{self.kind}"

    def _load_stored(self) -> None:
        folder = self._folder()
        if not folder.is_dir():
            return
        for file in sorted(folder.glob("*.npz")):
            if file in self._loaded:
                continue
            self._loaded.add(file)
            try:
                with np.load(file) as stored:
                    keys, rows = stored["keys"], stored["rows"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged file is ignored: its rows are computed again
            if rows.dtype == self.dtype and rows.shape == (len(keys), self.width):
                self._rows.update(zip(keys.tolist(), rows))

    def _save(self, keys: list[str], rows: np.ndarray) -> None:
        folder = self._folder()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-", suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, keys=np.array(keys), rows=rows)
            os.replace(tmp, folder / f"{keys[0][:16]}-{len(keys)}-{os.getpid()}.npz")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def __call__(self, items: Sequence[np.ndarray], compute: Callable[[list], np.ndarray]) -> np.ndarray:
        if _off:
            return np.asarray(compute(list(items)), dtype=self.dtype).reshape(len(items), self.width)
        keys = [self._key(item) for item in items]
        if self.store and any(key not in self._rows for key in keys):
            self._load_stored()
        wanted = list(dict.fromkeys(key for key in keys if key not in self._rows))
        if wanted:
            first = {key: i for i, key in reversed(list(enumerate(keys)))}
            new = np.asarray(compute([items[first[key]] for key in wanted]), dtype=self.dtype)
            new = new.reshape(len(wanted), self.width)
            self._rows.update(zip(wanted, new))
            if self.store:
                self._save(wanted, new)
        out = np.stack([self._rows[key] for key in keys]) if keys else np.empty((0, self.width), self.dtype)
        while len(self._rows) > self.limit:
            self._rows.pop(next(iter(self._rows)))
        return out
