"""The engine under asyncio: an `Engine` belongs to one thread and blocks (SQLite, the matcher),
and durable-rules allows one thread per process; so `AsyncEngine` makes its engine on the
process's one engine thread and hands every call to it, awaiting the result: the event loop
never blocks and the thread model holds."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

from blacklist_rules.errors import EngineClosedError, EngineError
from blacklist_rules.model.decisions import Status

from .context import Outcome
from .facade import Engine, Failures

_R = TypeVar("_R")

_worker: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _engine_thread() -> ThreadPoolExecutor:
    """The process's one engine thread, shared by every `AsyncEngine` (made on first use)."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(1, thread_name_prefix="blacklist-rules-engine")
        return _worker


class AsyncEngine:
    """An `Engine` on its own worker thread, for asyncio code.

    `AsyncEngine(**kwargs)` takes `Engine.from_path`'s arguments (or `factory`, a callable
    that makes the engine: it runs on the engine thread). `async with` opens and closes it;
    calls run one at a time, in the order awaited, on the process's one engine thread, shared
    by every `AsyncEngine`. durable-rules belongs to the first thread that used it: in a
    process that made an `Engine` on another thread first, `open` raises
    `EngineThreadError`.
    Hooks (`engine.hooks`) are called on that thread too: register them with `call`. The
    failure model is the engine's: `process` raises `EvaluationError` unless
    `failures="outcome"`."""

    def __init__(self, factory: Callable[[], Engine[Any]] | None = None, **kwargs: Any) -> None:
        self._factory = factory if factory is not None else partial(Engine.from_path, **kwargs)
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine[Any] | None = None
        self._closed = False

    async def open(self) -> AsyncEngine:
        """Make the engine on a new worker thread (`async with` does this)."""
        if self._closed:
            raise EngineClosedError("this AsyncEngine")
        if self._executor is None:
            self._executor = _engine_thread()
            try:
                self._engine = await self._submit(self._factory)
            except BaseException:
                self._executor = None
                raise
        return self

    async def close(self) -> None:
        """Close the engine (committing what its batch holds); the engine thread stays for
        other `AsyncEngine`s (idle, it costs nothing). Any use after it raises
        `EngineClosedError`; closing again does nothing."""
        self._closed = self._closed or self._engine is not None
        executor, self._executor = self._executor, None
        engine, self._engine = self._engine, None
        if executor is not None and engine is not None:
            await asyncio.get_running_loop().run_in_executor(executor, engine.close)

    async def __aenter__(self) -> AsyncEngine:
        return await self.open()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """As `Engine.__exit__`: on an exception, what was not committed is dropped."""
        if kind is None or self._engine is None:
            await self.close()
            return
        engine = self._engine
        await self.call(lambda _: engine.__exit__(kind, value, tb))
        await self.close()

    async def call(self, function: Callable[[Engine[Any]], _R]) -> _R:
        """Run `function(engine)` on the engine's thread: any engine method, a hook's
        registration, a batch of work."""
        engine = self._engine
        if engine is None and self._closed:
            raise EngineClosedError("this AsyncEngine")
        if engine is None:
            raise EngineError("the AsyncEngine is not open: use `async with` or `await open()`")
        return await self._submit(partial(function, engine))

    async def process(self, event: object, *, failures: Failures = "raise") -> Outcome:
        return await self.call(lambda engine: engine.process(event, failures=failures))

    async def run(self, events: Iterable[object], *, failures: Failures = "raise") -> list[Outcome]:
        """Process events in one batch on the engine's thread (one commit per `commit_every`),
        their outcomes in order."""
        return await self.call(lambda engine: list(engine.run(events, failures=failures)))

    async def advance_to(self, moment: datetime | str, *, force: bool = False) -> Outcome:
        return await self.call(lambda engine: engine.advance_to(moment, force=force))

    async def status(self, account_id: str) -> Status:
        return await self.call(lambda engine: engine.status(account_id))

    async def is_blacklisted(self, identity: Mapping[str, object]) -> bool:
        return await self.call(lambda engine: engine.is_blacklisted(identity))

    async def _submit(self, function: Callable[[], _R]) -> _R:
        if self._executor is None:
            raise EngineClosedError("this AsyncEngine")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)
