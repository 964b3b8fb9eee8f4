"""An engine as one of a shared db's workers (issue 16 item 3): joining, its progress, and
leaving, the last one to leave moving event time to the db's clock."""

from __future__ import annotations

import os
import socket

from .core import Core


def join(core: Core, worker_id: str | None, idle_timeout: float) -> None:
    """On a shared store opened for writing, count the engine among the db's workers
    (default id `host:pid`); other accounts' deadlines then fire by the low watermark."""
    core.idle_timeout = idle_timeout
    store = core.store
    if store.shared and not store.read_only:
        core.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        store.join_worker(core.worker_id)


def leave(core: Core) -> str | None:
    """Leave the db's workers; the db's clock when no worker runs any more (the caller moves
    event time to it: what nobody is behind on acts), else None."""
    if core.worker_id is None:
        return None
    core.store.leave_worker(core.worker_id)
    if core.store.watermark(core.idle_timeout) is not None:
        return None
    return core.store.meta("clock")
