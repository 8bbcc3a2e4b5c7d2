"""The ``facedid`` command on a Ray cluster (``--engine ray``): the files of a run spread over workers
with Ray Data, each worker loading the detector and the method once.

The command's run (:mod:`facedid_lib.cli.run`) walks the inputs and checks the arguments on the
driver, as on one machine; then the jobs (one input file and its output each) become a Ray
dataset. Photos go through :meth:`ray.data.Dataset.map_batches` in batches, handled by a callable
class (:class:`_Worker`) that a pool of ``workers`` actors holds, so each worker sets itself up
once (``setup(settings)``: the method, its parameters, the detector) and then handles batch after
batch; a video is a batch of its own (its tracks need the whole clip, so it is never split into
frames across workers). Each batch returns what happened to its files (a JSON-able dict), which
the driver adds up as the results arrive. Ray retries a batch whose worker was lost; the outputs
are written atomically and never overwritten, so a batch done again skips what was finished.

Ray is an optional extra (``pip install ".[ray]"``); usage statistics are off and no
dashboard is started. :func:`connect` starts a local cluster on this machine unless an
``address`` (``ray start --head`` prints one) names a running one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Callable, Iterator

__all__ = ["connect", "run_jobs", "import_ray", "RAY_MISSING"]

#: What the command says where Ray is not installed.
RAY_MISSING = "the Ray engine needs Ray: pip install \".[ray]\" in the course's clone (Ray Data 2.40 or later)"


def import_ray():
    """Ray, with usage statistics off; ImportError with the way to install it where it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage statistics sent
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError(f"{RAY_MISSING} ({err})") from None
    return ray


@contextlib.contextmanager
def connect(address: str | None = None, cpus: int | None = None) -> Iterator[dict]:
    """A Ray cluster for the run: the one at ``address`` (``"auto"``: the one started on this machine
    with ``ray start``), else a local one of ``cpus`` CPUs started here and stopped on leaving.
    Yields the cluster's resources (``{"CPU": 2.0, ...}``). A driver already connected is reused."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else cpus, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
        started = True
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command shows its own
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield dict(ray.cluster_resources())
    finally:
        if started:
            ray.shutdown()


class _Worker:
    """What each Ray worker holds: its class's ``setup(settings)`` run once, then called on batch
    after batch of jobs (a ``"job"`` column of JSON strings); returns one row, the batch's result as
    JSON. :func:`run_jobs` makes a subclass holding ``setup`` and ``settings``, so that the actors
    are made without arguments (Ray cannot restart an actor whose arguments it has lost)."""

    setup: Callable
    settings: dict

    def __init__(self):
        self._process = type(self).setup(type(self).settings)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        jobs = [json.loads(str(job)) for job in batch["job"]]
        return {"result": np.array([json.dumps({**self._process(jobs), "count": len(jobs)})], dtype=object)}


def run_jobs(jobs: list[dict], setup: Callable, settings: dict, workers: int, batch_size: int = 8,
             gpus: float = 0, video=lambda job: False) -> Iterator[tuple[int, dict]]:
    """Run ``jobs`` (JSON-able dicts) on the connected cluster (:func:`connect`): ``workers`` actors
    of :class:`_Worker`, each with one CPU (and ``gpus`` GPUs); the jobs for which ``video(job)``
    is true one per batch, the others ``batch_size`` per batch. Yields ``(how many jobs the batch
    held, its result)`` as the batches finish, in no fixed order."""
    ray = import_ray()
    photos = [job for job in jobs if not video(job)]
    videos = [job for job in jobs if video(job)]
    for part, size in ((photos, batch_size), (videos, 1)):
        if not part:
            continue
        dataset = ray.data.from_items([{"job": json.dumps(job)} for job in part])
        worker = type("FacedidWorker", (_Worker,), {"setup": staticmethod(setup), "settings": settings})
        done = dataset.map_batches(
            worker, batch_size=size,
            compute=ray.data.ActorPoolStrategy(size=max(1, min(workers, -(-len(part) // size)))),
            num_cpus=1, **({"num_gpus": gpus} if gpus else {}))
        for row in done.iter_rows():
            result = json.loads(row["result"])
            yield result.pop("count"), result
