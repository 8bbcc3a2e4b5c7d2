"""Run each notebook once per CI run: nbval executes it, the book build reuses the outputs.

When ``FACEDID_NB_CACHE`` names a jupyter-cache folder (the book's is ``_build/.jupyter_cache``),
every notebook whose cells all passed under nbval is stored there with the outputs nbval
collected. ``jupyter-book build`` (``execute_notebooks: cache``) then finds each notebook in the
cache, keyed by its code and kernel, and does not execute it again. Without the variable this
plugin does nothing.
"""

from __future__ import annotations

import os

import pytest

_NOTEBOOKS: dict = {}  # notebook file node -> True while every cell passed


def _nbval_cell(item) -> bool:
    return hasattr(item, "cell") and hasattr(item, "test_outputs") and hasattr(item.parent, "nb")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not os.environ.get("FACEDID_NB_CACHE") or not _nbval_cell(item):
        return
    report = outcome.get_result()
    notebook = item.parent
    _NOTEBOOKS[notebook] = _NOTEBOOKS.get(notebook, True) and report.passed
    item.cell.outputs = list(item.test_outputs or [])
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
