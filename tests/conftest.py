"""Shared fixtures: the offline data folder (FACEDID_DATA, else ../shared/data/celeba_subset)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_subset"


@pytest.fixture(scope="session")
def data_folder() -> Path:
    folder = Path(os.environ.get("FACEDID_DATA") or DEFAULT_DATA).expanduser()
    if not (folder / "identity.csv").is_file():
        pytest.fail(f"the offline data folder {folder} is missing: set FACEDID_DATA to the course's "
                    "celeba_subset folder (see README.md, Data)")
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one intra-op thread is faster than two on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
