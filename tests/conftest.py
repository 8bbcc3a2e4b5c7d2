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


@pytest.fixture(scope="session")
def faceset(data_folder, tmp_path_factory):
    """10 identities of the offline data at 192 px: 6 gallery and 4 held-out photos of each."""
    from facedid_lib.data import facesets as data

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEDID_CACHE", str(tmp_path_factory.mktemp("cache")))
        chosen = data.load_faces(data_folder, n_identities=10, per_identity=10, size=192, progress=False)
    return data.split(chosen, (0.6, 0.4))
