"""Run each notebook once per CI run: nbval executes it, the book build reuses the outputs.

When ``FACEDID_NB_CACHE`` names a jupyter-cache folder (the book's is ``_build/.jupyter_cache``),
every notebook whose cells all passed under nbval is stored there with the outputs nbval
collected. ``jupyter-book build`` (``execute_notebooks: cache``) then finds each notebook in the
cache, keyed by its code and kernel, and does not execute it again. Without the variable this
plugin does nothing.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

_NOTEBOOKS: dict = {}  # notebook file node -> True while every cell passed


def _nbval_cell(item) -> bool:
    return hasattr(item, "cell") and hasattr(item, "test_outputs") and hasattr(item.parent, "nb")


def _silenced(source: str) -> bool:
    """IPython shows no result of a cell whose last line ends with ``;`` (nbval records it anyway)."""
    lines = [line.split("#")[0].rstrip() for line in source.strip().splitlines()]
    return bool(lines) and lines[-1].endswith(";")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not os.environ.get("FACEDID_NB_CACHE") or not _nbval_cell(item):
        return
    report = outcome.get_result()
    notebook = item.parent
    _NOTEBOOKS[notebook] = _NOTEBOOKS.get(notebook, True) and report.passed
    silenced = _silenced(item.cell.source)
    item.cell.outputs = [output for output in item.test_outputs or []
                         if not (silenced and output.get("output_type") == "execute_result")]
    item.cell.execution_count = item.cell_num + 1
    for output in item.cell.outputs:
        if output.get("output_type") == "execute_result":
            output["execution_count"] = item.cell.execution_count


def pytest_sessionfinish(session):
    folder = os.environ.get("FACEDID_NB_CACHE")
    if not folder or not _NOTEBOOKS:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(folder)
    for notebook, passed in _NOTEBOOKS.items():
        ran_all = all(c.execution_count for c in notebook.nb.cells if c.cell_type == "code")
        if passed and ran_all:
            uri = str(notebook.path)
            cache.cache_notebook_bundle(CacheBundleIn(notebook.nb, uri), check_validity=False, overwrite=True)
            print(f"\nstored the executed notebook in the book's cache: {uri}")


# --- the library's docstring examples (pytest --doctest-modules facedid_lib) ------------------

#: Names the examples may use without defining them, besides ``torch`` and ``np``: photos and
#: chips of the course's offline data (FACEDID_DATA), loaded once per run and only for an
#: example that names one of them.
DOCTEST_DATA_NAMES = ("data_folder", "photo", "faceset", "train", "test", "chips")


@functools.cache
def _doctest_data(cache_dir: str) -> dict:
    from facedid_lib import data

    folder = Path(os.environ.get("FACEDID_DATA") or Path(__file__).resolve().parent.parent / "shared"
                  / "data" / "celeba_subset").expanduser()
    if not (folder / "identity.csv").is_file():
        pytest.fail(f"the offline data folder {folder} is missing: set FACEDID_DATA to the course's "
                    "celeba_subset folder (see README.md, Data)")
    with pytest.MonkeyPatch.context() as patch:  # the decoded chips go to a temporary cache
        patch.setenv("FACEDID_CACHE", cache_dir)
        faceset = data.load_faces(folder, n_identities=3, per_identity=4, size=192, progress=False)
    train, test = data.split(faceset, (0.5, 0.5))
    return {
        "data_folder": folder,
        "photo": data.wild_photos(folder / "wild")["027779.jpg"],  # 640 x 425, three faces
        "faceset": faceset,  # 3 identities x 4 aligned 192-px chips (padding 0.4)
        "train": train,  # 2 chips of each identity
        "test": test,  # the other 2
        "chips": faceset.images[[0, 4]],  # a man's chip and a woman's
    }


@pytest.fixture(scope="session", autouse=True)
def _doctest_modules(doctest_namespace):
    """``torch`` and ``np`` for every docstring example, as a reader of the docs has them."""
    import numpy as np
    import torch

    doctest_namespace.update(torch=torch, np=np)


@pytest.fixture(autouse=True)
def _doctest_offline_data(request, tmp_path_factory):
    """The offline-data names of :data:`DOCTEST_DATA_NAMES` for the examples that use them, and one
    torch thread: the examples' tensors are tiny, and on a busy 2-core machine two threads made
    one example (``attacks.minimal.LBFGS``) 40 times slower (19 s against 0.5 s)."""
    test = getattr(request.node, "dtest", None)  # a DoctestItem's doctest.DocTest
    if test is None:
        yield
        return
    used = {m.group(0) for ex in test.examples for m in re.finditer(r"\b\w+\b", ex.source)}
    used = used.intersection(DOCTEST_DATA_NAMES)
    if used:
        names = _doctest_data(str(tmp_path_factory.getbasetemp() / "doctest-cache"))
        test.globs.update({name: names[name] for name in used})
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
