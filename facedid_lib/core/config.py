"""Run-time settings shared by every chapter: device, profile, seeding and folders.

Environment variables (all optional):

``FACEDID_PROFILE``  ``quick`` or ``full``; default ``full`` where CUDA is available, else ``quick``.
``FACEDID_CACHE``    cache folder for decoded data and trained weights; default ``~/.cache/facedid``.
``FACEDID_DATA``     offline face folder (``img_align/`` + ``identity.csv``) or a CelebA folder in
                     torchvision's layout; no default (see :func:`facedid_lib.data.facesets.load_faces`).
``FACEDID_DEVICE``   force a torch device (``cpu``, ``cuda``, ``cuda:1``); default CUDA when available.
``OMP_NUM_THREADS``  the CPU threads one computation may use (torch's and OpenMP's own variable; the test
                     workers set it to their share of the cores); default every core (:func:`cpu_threads`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from facedid_lib.core.folders import cache_path

PROFILES = ("quick", "full")


def device() -> torch.device:
    """The library's default device: ``FACEDID_DEVICE``, else CUDA when available, else CPU."""
    forced = os.environ.get("FACEDID_DEVICE")
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device_arg=None, like: torch.Tensor | None = None) -> torch.device:
    """The device a computation runs on.

    ``device_arg`` wins when given; otherwise the device of ``like`` (the input tensor), otherwise
    the library default :func:`device`.
    """
    if device_arg is not None:
        return torch.device(device_arg)
    if like is not None:
        return like.device
    return device()


def module_device(module, fallback: torch.device) -> torch.device:
    """The device of a module's first parameter or buffer; ``fallback`` for a module without any."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return fallback


def profile() -> str:
    """``quick`` (small data, few epochs: CPU, CI) or ``full`` (paper scale: a GPU)."""
    value = os.environ.get("FACEDID_PROFILE")
    if value is None:
        return "full" if torch.cuda.is_available() else "quick"
    value = value.strip().lower()
    if value not in PROFILES:
        raise ValueError(f"FACEDID_PROFILE must be one of {PROFILES}, got {value!r}")
    return value


def by_profile(quick, full):
    """Pick the value of the active profile: ``by_profile(quick=5, full=100)``."""
    return quick if profile() == "quick" else full


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same way."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cpu_threads() -> int:
    """The CPU threads one computation of this process may use: ``OMP_NUM_THREADS`` where it is set to
    a positive number (two test workers on two cores set it to 1: each process gets one core, and
    threads that wait on each other across processes made a notebook 12 % slower), else the cores.

    >>> cpu_threads() >= 1
    True
    """
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, os.cpu_count() or 1)


def cache_dir() -> Path:
    """The cache folder (``FACEDID_CACHE`` or ``~/.cache/facedid``), created on first use."""
    path = cache_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path | None:
    """The data folder named by ``FACEDID_DATA``, or None when it is not set."""
    value = os.environ.get("FACEDID_DATA")
    return Path(value).expanduser() if value else None
