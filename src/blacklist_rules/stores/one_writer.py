"""The `Workers` concern of a store only one writer uses at a time (SQLite, memory): no
workers, no watermark; the engine's own clock fires every deadline."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from blacklist_rules.stores.records import Watermark


class OneWriter:
    """`Workers` with nothing to coordinate."""

    def join_worker(self, worker_id: str) -> None:
        """See `Workers.join_worker`: nothing to join."""

    def report_progress(self, worker_id: str, progress_us: int) -> None:
        """See `Workers.report_progress`: nobody waits for it."""

    def leave_worker(self, worker_id: str) -> None:
        """See `Workers.leave_worker`: nothing to leave."""

    def add_partitions(self, holders: Sequence[str]) -> None:
        """See `Workers.add_partitions`: nobody waits for them."""

    def watermark(self, idle_seconds: float, besides: Collection[str] = ()) -> Watermark | None:
        """See `Workers.watermark`: none."""
        return None

    def commits(self) -> int:
        """See `Workers.commits`: only ours, which memory follows."""
        return 0
