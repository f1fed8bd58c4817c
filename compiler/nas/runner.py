"""Where `nmc-search` runs its trials: in this process, in local worker processes, or on a Ray cluster.

A search on one machine opens no network port. Local parallel trials run in a process pool
(`concurrent.futures` with the `spawn` start method: workers talk to the parent through
pipes, not sockets; torch is not fork-safe, so no `fork`). Ray is used only to join a cluster
the user names (`--ray ADDRESS`), and then only with Ray's token authentication: an open Ray
cluster runs code for anyone who can reach it, so nmc never switches authentication off and
refuses to join without a token (docs/search.md, "Security").
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from nmc.errors import NmcError
from nmc.nas.trial import run_trial

_worker_data: dict | None = None


def _init_worker(data: dict) -> None:
    """A pool worker: one torch thread (the pool is the parallelism) and the data set once."""
    global _worker_data
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    _worker_data = data


def _run_in_worker(job: Any) -> dict:
    assert _worker_data is not None
    return run_trial(job, _worker_data)


def guarded(call: Callable[[], dict]) -> dict:
    """A trial's result, or an error row when the trial raised (the search goes on)."""
    try:
        return call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        text = str(e).strip().splitlines()
        return {"state": "error", "message": f"{type(e).__name__}: {text[-1][:300] if text else ''}"}


class Runner:
    """Runs a batch of (trial, job) pairs and yields (trial, job, result) as each finishes."""

    def __init__(self, address: str | None, parallel: int | None, data: dict):
        self.ray: Any = None
        self.pool: ProcessPoolExecutor | None = None
        self.data = data
        if address is not None:
            self._join_cluster(address, parallel)
            return
        self.width = parallel or os.cpu_count() or 1
        if self.width == 1:
            self.where = "this process"
            return
        import multiprocessing

        self.pool = ProcessPoolExecutor(
            self.width, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(data,)
        )
        self.where = "local worker processes"

    def _join_cluster(self, address: str, parallel: int | None) -> None:
        import logging

        os.environ["RAY_AUTH_MODE"] = "token"  # never "disabled": an open cluster runs anyone's code
        if not ray_token_available():
            raise NmcError(
                f"--ray {address}: joining a Ray cluster needs its authentication token (Ray token auth); set "
                "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH, or put it in ~/.ray/auth_token (`ray get-auth-token`); "
                "without --ray the search runs on this machine and opens no port"
            )
        import ray

        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        except Exception as e:
            raise NmcError(f"--ray {address}: could not join the cluster ({type(e).__name__}: {_first_line(e)})") from None
        self.ray = ray
        self.width = parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.where = f"the Ray cluster at {address}"
        self.remote_data = ray.put(self.data)
        self.task = ray.remote(num_cpus=1)(run_trial)

    def run(self, batch: list) -> Iterator[tuple[Any, Any, dict]]:
        if self.ray is not None:
            pending = {self.task.remote(job, self.remote_data): (trial, job) for trial, job in batch}
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                trial, job = pending.pop(ready[0])
                yield trial, job, guarded(lambda ref=ready[0]: self.ray.get(ref))
            return
        if self.pool is None:
            for trial, job in batch:
                yield trial, job, guarded(lambda job=job: run_trial(job, self.data))
            return
        futures: dict[Future, tuple[Any, Any]] = {self.pool.submit(_run_in_worker, job): (trial, job) for trial, job in batch}
        while futures:
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: futures[f][1].number):
                trial, job = futures.pop(future)
                yield trial, job, guarded(future.result)

    def close(self) -> None:
        if self.ray is not None:
            self.ray.shutdown()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def ray_token_available() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    candidate = Path(path) if path else Path.home() / ".ray" / "auth_token"
    try:
        return bool(candidate.read_text().strip())
    except OSError:
        return False


def redacted(url: str) -> str:
    """A storage URL fit to print: the password of `scheme://user:password@host` replaced by ***."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""
