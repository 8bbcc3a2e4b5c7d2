"""What the command's parser knows of the library, kept in the cache so that ``facedid -h``,
``--version`` and a wrong argument are answered without importing torch and every model.

The catalogue lists every registered method (name, aliases, summary, family, the command's
parameters, what it needs, whether it sees all faces at once, the regions it can cover and its
default region) and the detectors' names: all that
:func:`facedid_lib.cli.parser.build_parser` reads. :func:`live` builds it from the registries
(which imports the library); a run of the command stores it in the cache folder
(``FACEDID_CACHE``, file ``cli-catalogue.json``) under a key made of the library's version and
the size and modification time of each of its source files, so an edited or upgraded library
never answers from an old catalogue. The registries stay the one source: the catalogue is only
their copy, rebuilt whenever the key changes.

>>> catalogue = live()
>>> blur = next(m for m in catalogue["methods"] if m["name"] == "blur")
>>> blur["family"], [p["name"] for p in blur["params"]], blur["region"]
('classical', ['face_sigma'], 'head')
>>> catalogue["detectors"]
['hog', 'haar', 'mmod', 'yunet']
>>> to_param(param_entry(Param("sigma", 4.0, "blur", low=0.5, high=64.0)))
Param(name='sigma', default=4.0, help='blur', low=0.5, high=64.0, step=None, choices=())
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import facedid_lib
from facedid_lib.core.folders import cache_path
from facedid_lib.core.params import Param

FORMAT = 2  # of the stored catalogue; a new format makes every stored one stale
FILE_NAME = "cli-catalogue.json"


def param_entry(param: Param) -> dict:
    """A parameter as JSON: every field of :class:`~facedid_lib.core.params.Param`."""
    return {"name": param.name, "default": param.default, "help": param.help, "low": param.low,
            "high": param.high, "step": param.step, "choices": list(param.choices)}


def to_param(entry: dict) -> Param:
    """The :class:`~facedid_lib.core.params.Param` of :func:`param_entry`'s JSON."""
    return Param(entry["name"], entry["default"], entry["help"], low=entry["low"], high=entry["high"],
                 step=entry["step"], choices=tuple(entry["choices"]))


def live() -> dict:
    """The catalogue of the registries as they are in this process (imports the library)."""
    from facedid_lib.detect import detector_names
    from facedid_lib.methods import PROVIDERS, REGISTRY

    methods = [{"name": name, "aliases": list(REGISTRY.aliases(name)), "summary": method.summary,
                "family": method.family, "params": [param_entry(p) for p in method.command_params()],
                "needs": [[need, PROVIDERS[need].help] for need in method.needs], "whole_set": method.whole_set,
                "regions": list(method.regions), "region": method.region}
               for name, method in REGISTRY.items()]
    return {"format": FORMAT, "methods": methods, "detectors": list(detector_names())}


def sources_key() -> str:
    """The library's version and the size and modification time of each of its source files, hashed."""
    root = Path(facedid_lib.__file__).resolve().parent
    digest = hashlib.sha256(f"{facedid_lib.__version__} {FORMAT} {sys.version_info[:2]}".encode())
    for path in sorted(root.rglob("*.py")):
        info = path.stat()
        digest.update(f"{path.relative_to(root)} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def stored_path() -> Path:
    """Where a run keeps the catalogue: ``cli-catalogue.json`` in the cache folder."""
    return cache_path() / FILE_NAME


def stored() -> dict | None:
    """The stored catalogue, where it is there, readable and made from these very source files."""
    try:
        entry = json.loads(stored_path().read_text(encoding="utf-8"))
        if entry.get("key") == sources_key() and entry["catalogue"].get("format") == FORMAT:
            return entry["catalogue"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def store(catalogue: dict) -> bool:
    """Keep ``catalogue`` for the next start (atomically; a cache that cannot be written is no
    error: the next start imports the library, as this one did). True when it was written."""
    path = stored_path()
    text = json.dumps({"key": sources_key(), "catalogue": catalogue}, ensure_ascii=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        return False
    return True


__all__ = ["FORMAT", "FILE_NAME", "param_entry", "to_param", "live", "sources_key", "stored_path", "stored", "store"]
