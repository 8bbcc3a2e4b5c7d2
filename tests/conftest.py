"""Shared fixtures: the offline data folder (FACEDID_DATA, else ../shared/data/celeba_subset)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_subset"


@pytest.fixture(scope="session")
def data_folder() -> Path:
    folder = Path(os.environ.get("FACEDID_DATA") or DEFAULT_DATA).expanduser()
    if not (folder / "identity.csv").is_file():
        pytest.fail(f"the offline data folder {folder} is missing: set FACEDID_DATA to the course's "
                    "celeba_subset folder (see README.md, Data)")
    return folder
