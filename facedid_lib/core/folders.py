"""Where the library keeps its files, without importing torch (the command's start-up reads it).

>>> import os
>>> saved = os.environ.get("FACEDID_CACHE")
>>> os.environ["FACEDID_CACHE"] = "~/my-cache"
>>> cache_path() == Path.home() / "my-cache"
True
>>> _ = os.environ.pop("FACEDID_CACHE") if saved is None else os.environ.update(FACEDID_CACHE=saved)
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_path() -> Path:
    """The cache folder, ``FACEDID_CACHE`` or ``~/.cache/facedid`` (not created here)."""
    return Path(os.environ.get("FACEDID_CACHE") or Path.home() / ".cache" / "facedid").expanduser()


__all__ = ["cache_path"]
