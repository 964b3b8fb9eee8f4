"""An engine as one of a shared db's workers (issue 16 item 3): joining, its progress, and
leaving, the last one to leave moving event time to the db's clock."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from blacklist_rules.stores.records import partition_holder

from .core import Core


def join(core: Core, worker_id: str | None, idle_timeout: float) -> None:
    """On a shared store opened for writing, count the engine among the db's workers
    (default id `host:pid`); other accounts' deadlines then fire by the low watermark."""
    core.idle_timeout = idle_timeout
    store = core.store
    if store.shared and not store.read_only:
        core.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        core.holds = (core.worker_id,)
        store.join_worker(core.worker_id)


def take_partitions(core: Core, log: str, count: int, mine: Sequence[int]) -> None:
    """The engine consumes partitions `mine` of a log of `count`: from now on its progress
    holds the watermark by those partitions rather than by its own name, so that it stays in
    the db whoever consumes them next (a replacement, a worker joining later). Every
    partition of the log is counted, those nobody took yet holding the watermark at the
    beginning of time; ours run again (they may have gone idle before)."""
    if core.worker_id is None:
        return
    store = core.store
    store.add_partitions([partition_holder(log, p) for p in range(count)])
    for partition in mine:
        store.join_worker(partition_holder(log, partition))
    store.leave_worker(core.worker_id)
    core.holds = tuple(partition_holder(log, p) for p in mine)


def partition_idle(core: Core, log: str, partition: int, idle: bool) -> None:
    """A partition of ours has nothing more to consume for now (`idle`): it holds the
    watermark no more (as Flink's idle sources); or it has events again, and holds it from
    its progress."""
    if core.worker_id is None:
        return
    holder = partition_holder(log, partition)
    if idle:
        core.store.leave_worker(holder)
    else:
        core.store.join_worker(holder)


def leave(core: Core) -> str | None:
    """Leave the db's workers; the db's clock when no worker runs any more (the caller moves
    event time to it: what nobody is behind on acts), else None."""
    if core.worker_id is None:
        return None
    core.store.leave_worker(core.worker_id)
    if core.store.watermark(core.idle_timeout) is not None:
        return None
    return core.store.meta("clock")
