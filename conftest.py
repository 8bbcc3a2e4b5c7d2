"""Run each notebook once per CI run: nbval executes it, the book build reuses the outputs.

When ``FACEDID_NB_CACHE`` names a jupyter-cache folder (the book's is ``_build/.jupyter_cache``),
every notebook whose cells all passed under nbval is stored there with the outputs nbval
collected. ``jupyter-book build`` (``execute_notebooks: cache``) then finds each notebook in the
cache, keyed by its code and kernel, and does not execute it again. Without the variable this
plugin does nothing.

The test command runs on two workers (pytest-xdist, ``-n`` in pyproject.toml's ``addopts``; each
file, so each notebook, stays on one worker): :func:`pytest_collection_modifyitems` orders the
files so that the two stay busy, every process started here waits for work asleep
(``OMP_WAIT_POLICY=PASSIVE``) and uses its share of the cores (:func:`_share_the_cores`). A network
two notebooks need is trained once: the second waits on its cache entry's lock
(:func:`facedid_lib.core.cache.lock`).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

# PyTorch's OpenMP threads spin while they wait for work; two busy processes on two cores then
# spin against each other (a training step took 3.7 times as long beside a second one, 1.9 times
# when waiting asleep). Set before any test, worker or kernel imports torch; the results are the
# same bits (only how idle threads wait changes).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _share_the_cores() -> None:
    """Each test worker (pytest-xdist sets ``PYTEST_XDIST_WORKER_COUNT`` before this file is read)
    and the notebook kernels it starts use its share of the cores: ``OMP_NUM_THREADS`` (torch,
    OpenMP; :func:`facedid_lib.core.config.cpu_threads`, which the dlib black box reads),
    ``MKL_NUM_THREADS`` and ``OPENCV_FOR_THREADS_NUM`` (OpenCV's detectors and SFace), where they are
    not set already. Two workers on two cores with two threads each wait on each other's threads:
    two copies of a notebook side by side took 216 s with two threads each, 189 s with one. One
    process (``-n 0``) keeps every core. Floats may differ in the last bits from a run with two
    threads (a sum split differently); the same setting gives the same bits."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if workers < 2:
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    threads = str(max(1, cores // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
        os.environ.setdefault(name, threads)


_share_the_cores()

# The notebooks this run executes fill the book's cache (FACEDID_NB_CACHE) and are what the site shows:
# their explorers carry the static form that moves on the static site (facedid_lib.viz.static_explorer;
# the book's own build sets the same variable in _ext/site_fixes.py).
os.environ.setdefault("FACEDID_STATIC_EXPLORERS", "1")

_NOTEBOOKS: dict = {}  # notebook file node -> True while every cell passed

#: Notebooks that train what other notebooks load (Model A and B: six notebooks load them through
#: ``evaluate.course.setup``). They go first, the unit tests beside them, so no notebook waits long
#: on their cache lock.
TRAIN_FIRST = ("book/01_privacy/measuring.ipynb",)
#: Seconds each notebook took in a CI run (``.ci/run`` writes ``_build/notebook-seconds.json``;
#: copy it here when the book changes): the other notebooks run longest first, so that the last
#: ones to finish are short and neither worker waits for the other at the end.
NOTEBOOK_SECONDS = Path(__file__).resolve().parent / ".ci" / "notebook_seconds.json"
_SECONDS: dict = {}  # notebook -> seconds measured in this run (setup, cells, teardown)


def _file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def pytest_collection_modifyitems(session, config, items):
    """Files in the order described in :data:`TRAIN_FIRST` and :data:`NOTEBOOK_SECONDS`: the
    notebooks that train for others, the unit tests and docstring examples (as collected), then the
    other notebooks longest first (a notebook not yet timed goes first of them). The items of one
    file keep their order and stay together."""
    import json

    seconds = json.loads(NOTEBOOK_SECONDS.read_text()) if NOTEBOOK_SECONDS.is_file() else {}
    first_seen: dict = {}
    for position, item in enumerate(items):
        first_seen.setdefault(_file_of(item.nodeid), position)

    def rank(entry):
        position, item = entry
        name = _file_of(item.nodeid)
        if name in TRAIN_FIRST:
            group, cost = 0, 0.0
        elif not name.endswith(".ipynb"):
            group, cost = 1, 0.0
        else:
            group, cost = 2, -seconds.get(name, float("inf"))
        return group, cost, first_seen[name], position

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]


def pytest_runtest_logreport(report):
    if _file_of(report.nodeid).endswith(".ipynb"):
        name = _file_of(report.nodeid)
        _SECONDS[name] = _SECONDS.get(name, 0.0) + report.duration


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
    _store_seconds(session.config)
    folder = os.environ.get("FACEDID_NB_CACHE")
    if not folder or not _NOTEBOOKS:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from facedid_lib.core.cache import lock

    with lock(Path(folder) / "notebooks"):  # one worker at a time writes the cache's database
        cache = get_cache(folder)
        for notebook, passed in _NOTEBOOKS.items():
            ran_all = all(c.execution_count for c in notebook.nb.cells if c.cell_type == "code")
            if passed and ran_all:
                uri = str(notebook.path)
                cache.cache_notebook_bundle(CacheBundleIn(notebook.nb, uri), check_validity=False,
                                            overwrite=True)
                print(f"\nstored the executed notebook in the book's cache: {uri}")


def _store_seconds(config) -> None:
    """``FACEDID_NOTEBOOK_SECONDS``: a file for the seconds of every notebook of this run (written
    by the process that saw every report: the xdist controller, or the one process without -n)."""
    target = os.environ.get("FACEDID_NOTEBOOK_SECONDS")
    if not target or hasattr(config, "workerinput") or not _SECONDS:
        return
    import json

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(json.dumps({k: round(v, 1) for k, v in sorted(_SECONDS.items())}, indent=1) + "\n")


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
