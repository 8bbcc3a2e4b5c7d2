"""The cache folder: decoded face sets and trained weights, keyed by what determines them.

Every entry is a ``torch.save`` file named ``<kind>-<hash>.pt``: the hash covers everything that
determines the content, so a changed parameter gives a new entry and never a stale one. Files are
written to a temporary name and renamed, so an interrupted run never leaves a half-written entry,
and loaded with ``weights_only=True``. Whoever makes an entry holds its :func:`lock`, so two
processes that need the same entry at once (two notebooks under ``pytest -n 2``, two workers of a
cluster) make it once: the second waits and loads what the first stored. An entry that cannot be
read (truncated, not a torch file), or that does not hold what its loader expects (a ``check`` of
:func:`load`, e.g. :func:`mismatch`: a tampered entry, tensors of the wrong shape), is named in a
warning, removed and rebuilt by whoever asked for it.

:func:`trained` is the one trained-model cache of the course: a network is built, its weights are
loaded when an entry exists for everything that determines them, the network's definition
included (the source of its classes, see :func:`definition`), and trained and stored otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch
import torch.nn as nn

from facedid_lib.core import config


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


@contextlib.contextmanager
def lock(path: Path) -> Iterator[None]:
    """Hold the entry ``path`` exclusively while it is made: an ``fcntl`` lock on ``<path>.lock``.

    Another process that asks for the same lock waits until the block ends, then finds the entry
    stored (check again inside the block). The lock is released when the block ends or the process
    dies; the small ``.lock`` file stays. Where ``fcntl`` does not exist (Windows) nothing is locked:
    two processes may then make the same entry, and the atomic :func:`save` keeps it whole.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from facedid_lib.core import cache
    >>> path = Path(tempfile.mkdtemp()) / "squares-0.pt"
    >>> with cache.lock(path):
    ...     if cache.load(path) is None:  # nobody made it meanwhile
    ...         cache.save(torch.arange(4) ** 2, path)
    >>> cache.load(path).tolist()
    [0, 1, 4, 9]
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load(path: Path, check: Callable[[object], str | None] | None = None):
    """Load a cache entry (tensors, dicts, lists of plain values only), or None when absent.

    Parameters
    ----------
    path : path-like
        The entry's file (:func:`path_for`).
    check : callable, optional
        ``check(entry)`` returns None for an entry its caller can use, else what is wrong with it
        (``"images has shape 2 x 3 x 8 x 8, expected 12 x 3 x 16 x 16"``); :func:`mismatch` checks
        the shapes of tensors.

    Returns
    -------
    The entry, or None when there is none. An entry that cannot be read, or that ``check`` refuses,
    is removed with a warning that names it and None is returned, so the caller rebuilds it.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        problem = f"cannot be read ({type(err).__name__})"
    else:
        wrong = None if check is None else check(entry)
        if wrong is None:
            return entry
        problem = f"does not hold what was expected ({wrong})"
    warnings.warn(f"the cache entry {path} {problem}; it is removed and rebuilt", stacklevel=2)
    path.unlink(missing_ok=True)
    return None


def mismatch(entry, shapes: tuple | Mapping[str, tuple]) -> str | None:
    """What keeps ``entry`` from holding tensors of the given ``shapes``, or None: a ``check`` for :func:`load`.

    Parameters
    ----------
    entry : object
        A loaded cache entry.
    shapes : tuple or mapping
        The shape of ``entry`` itself, a tensor (``(n, None)``), or a mapping from the keys of
        ``entry``, a dict, to the shapes of their tensors (``{"mood": (n,), "mouth": (n,)}``);
        None in a shape accepts any length. Other keys of ``entry`` are not looked at.

    Returns
    -------
    None where everything matches, else a short description of the first difference.
    """
    if not isinstance(shapes, Mapping):
        return _tensor_mismatch("the entry", entry, shapes)
    if not isinstance(entry, dict):
        return f"a dict with {', '.join(shapes)} expected, got {type(entry).__name__}"
    for name, shape in shapes.items():
        if name not in entry:
            return f"no {name}"
        wrong = _tensor_mismatch(name, entry[name], shape)
        if wrong is not None:
            return wrong
    return None


def _tensor_mismatch(name: str, value, shape: tuple) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"{name} is a {type(value).__name__}, not a tensor"
    if value.ndim != len(shape) or any(want is not None and have != want for have, want in zip(value.shape, shape)):
        return f"{name} has shape {_shape_text(value.shape)}, expected {_shape_text(shape)}"
    return None


def _shape_text(shape) -> str:
    """``12 x 3 x 16 x 16``, ``12 x any``; ``()`` for a scalar."""
    return " x ".join("any" if n is None else str(n) for n in shape) or "()"


def definition(module: nn.Module) -> str:
    """A hash of what defines ``module``: its ``repr`` and the source of every class in it.

    A changed class (a layer added, a default changed) changes the hash, so :func:`trained`
    never loads weights trained for another definition.
    """
    classes = sorted({type(m) for m in module.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}")
    sources = []
    for cls in classes:
        try:
            sources.append(inspect.getsource(cls))
        except (OSError, TypeError):  # a class without source (built in C): its name stands for it
            sources.append(f"{cls.__module__}.{cls.__qualname__}")
    return key(repr(module), sources)


def trained(name: str, build: Callable[[], nn.Module], train: Callable[[nn.Module], dict], *key_parts,
            part: str | None = None) -> tuple[nn.Module, dict]:
    """The network ``build()`` with trained weights: loaded from the cache, or trained and stored.

    Parameters
    ----------
    name : the entry's kind, the start of its file name (``model_a``, ``autoencoder``...).
    build : makes the untrained network (seed inside it where the initialisation is random).
    train : trains the network in place and returns plain values to keep beside the weights (its
        history); called only when no usable entry exists.
    key_parts : everything else that determines the weights (data, recipe, seed); the network's
        :func:`definition` is always part of the key.
    part : store and load only this submodule (``"head"``: Model B's frozen descriptor comes from
        its package, only the head is trained).

    Returns
    -------
    ``(network, info)``, the network in eval mode and what ``train`` returned. An entry whose
    weights do not fit the network is named in a warning and trained again.
    """
    network = build()
    stored = network.get_submodule(part) if part else network
    path = path_for(name, definition(network), *key_parts)
    with lock(path):  # another process training the same network: wait for its weights
        entry = load(path)
        if entry is not None:
            try:
                stored.load_state_dict(entry["state"])
                return network.eval(), entry["info"]
            except (KeyError, TypeError, RuntimeError) as err:
                warnings.warn(f"the cache entry {path} does not fit {name} ({type(err).__name__}); training again",
                              stacklevel=2)
        info = train(network)
        save({"state": stored.state_dict(), "info": info}, path)
    return network.eval(), info
