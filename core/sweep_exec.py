"""Where a sweep's runs execute, behind one futures interface (concurrent.futures): a
process pool on this machine (core/workers.py: workers that die with the sweep) or a Dask
cluster (core/cluster.py, the optional extra ``smtui[dask]``). core/sweep.py submits every
run, collects each as it finishes, and on a stop calls ``end``: what has not finished is
cancelled and, where the executor can, the runs under way are ended too.

Every run is ``run_fields(fields, steps)``: a pure function of a Config's fields and the
number of steps, so the executor chosen changes no figure (wall and CPU seconds aside).
"""

from __future__ import annotations

from concurrent.futures import Future

from smtui.core.workers import end_pool, process_pool

LOCAL = "local"  # --scheduler local: a Dask cluster on this machine


class Executor:
    """The interface core/sweep.py uses: ``submit`` a run, then ``close`` once every run has
    finished or ``end`` to stop now. ``lost(exc)`` says whether an exception means a worker
    died (one line for the user, not a traceback); ``where`` describes it for messages."""

    jobs: int = 1
    where: str = ""

    def submit(self, fields: dict, steps: int) -> Future:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def lost(self, exc: BaseException) -> bool:
        return False


class ProcessExecutor(Executor):
    """``jobs`` worker processes on this machine."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.where = f"{jobs} worker process{'es' * (jobs != 1)}"
        self.pool = process_pool(jobs)

    def submit(self, fields: dict, steps: int) -> Future:
        from smtui.core import sweep

        return self.pool.submit(sweep.run_fields, fields, steps)

    def end(self) -> None:
        end_pool(self.pool)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def lost(self, exc: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)


def open_executor(jobs: int, scheduler: str | None = None) -> Executor:
    """A process pool of ``jobs`` workers, or the Dask cluster ``scheduler`` names
    (``local``: one started here with ``jobs`` single-threaded workers; ``tcp://HOST:PORT``:
    a running one). A cluster that cannot be reached, or whose workers run other versions,
    is a one-line UserError, before any run."""
    if scheduler is None:
        return ProcessExecutor(jobs)
    from smtui.core.cluster import DaskExecutor

    return DaskExecutor(scheduler, jobs)
