"""A sweep on a Dask distributed cluster (the optional extra ``smtui[dask]``): the same
futures interface as the process pool (``Client.get_executor()``), so core/sweep.py
submits, collects and stops the same way.

- ``--scheduler local`` starts a cluster here: ``jobs`` worker processes of one thread.
- ``--scheduler tcp://HOST:PORT`` joins a running one (``dask scheduler``, ``dask worker``).
- Before any run, every worker's versions (Python, numpy, autograd, smtui and a hash of
  smtui's engine sources) are checked against this machine's: the same run must give the
  same figures wherever it runs. Workers get one BLAS thread (Dask's nanny sets
  OMP_NUM_THREADS=1 and the like; the trainer limits OpenBLAS to one thread too).
- A stop cancels every run the cluster has not finished; a cluster started here has its
  workers ended at once, then is closed; a running cluster's workers finish the run they
  hold and drop it (Dask cannot interrupt a task).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import warnings
from concurrent.futures import Future

from smtui.core.errors import UserError
from smtui.core.sweep_exec import LOCAL, Executor
from smtui.core.text import quoted
from smtui.core.versions import first_difference, versions
from smtui.core.workers import ctrl_c_held, resource_tracker_started

CONNECT_SECONDS = 10  # to reach a scheduler
WORKERS_SECONDS = 30  # for a scheduler's first worker to join
ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+(:\d{1,5})?$")
INSTALL = "pip install 'smtui[dask]' (dask and distributed)"


class DaskExecutor(Executor):
    """Runs on a Dask cluster, started here (``local``) or running at ``scheduler``."""

    def __init__(self, scheduler: str, jobs: int) -> None:
        what = f"--scheduler {quoted(scheduler)}"
        if scheduler != LOCAL and not ADDRESS.match(scheduler):  # the flag's form first, Dask or not
            raise UserError(f"{what}: give local, or the scheduler's address as tcp://HOST:PORT")
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UserError(f"--scheduler needs Dask: {INSTALL}") from None
        self.cluster = self.client = None
        try:
            with warnings.catch_warnings():  # Dask's own version warnings: ours below is the one line
                warnings.simplefilter("ignore")
                if scheduler == LOCAL:
                    resource_tracker_started()
                    with ctrl_c_held():  # its workers (and the loop thread that restarts them) never see ctrl+c
                        self.cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                    dashboard_address=None, silence_logs=logging.ERROR)
                    self.client = Client(self.cluster, set_as_default=False)
                else:
                    logging.getLogger("distributed").setLevel(logging.ERROR)
                    self.client = Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
                    self.client.wait_for_workers(1, timeout=WORKERS_SECONDS)
            self._check_versions(what)
        except (OSError, TimeoutError) as exc:
            self.close()
            hint = "start one with `dask scheduler` and `dask worker ADDRESS`" if scheduler != LOCAL else ""
            raise UserError(f"{what}: no cluster to run on ({exc}){'; ' + hint if hint else ''}") from None
        except BaseException:  # refused, or a second ctrl+c while it starts: nothing left running
            self.close()
            raise
        # A cluster started here is ours to end: its workers' pids, to end them at once on a stop
        # (closing asks each to finish its task first, seconds later).
        self.local_pids = list(self.client.run(os.getpid).values()) if self.cluster is not None else []
        self.jobs = sum(self.client.nthreads().values())
        self.where = (f"a local Dask cluster of {self.jobs} workers" if scheduler == LOCAL else
                      f"the Dask cluster at {scheduler} ({self.jobs} worker threads)")
        self.executor = self.client.get_executor(pure=False)

    def _check_versions(self, what: str) -> None:
        mine = versions()
        for worker, theirs in sorted(self.client.run(versions).items()):
            differs = first_difference(mine, theirs)
            if differs:
                raise UserError(f"{what}: worker {worker} runs other versions ({differs}); install the same "
                                "everywhere: a run's figures depend on them")

    def submit(self, fields: dict, steps: int) -> Future:
        from smtui.core import sweep

        return self.executor.submit(sweep.run_fields, fields, steps)

    def end(self) -> None:
        try:
            self.executor.shutdown(wait=False)  # cancels every run not finished
            for pid in self.local_pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:  # gone already
                    pass
        finally:
            self.close()

    def close(self) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception:  # noqa: BLE001  (already closing or gone: nothing left to end)
                    pass
        self.client = self.cluster = None

    def lost(self, exc: BaseException) -> bool:
        from distributed import KilledWorker

        return isinstance(exc, KilledWorker)
