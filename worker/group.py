"""Several Temporal workers of one process, started and stopped together."""

from __future__ import annotations

import asyncio
from types import TracebackType

from temporalio.worker import Worker


class WorkerGroup:
    """Runs its workers as one: `async with group:` starts them all and shuts them all down."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._runs: list[asyncio.Task[None]] = []

    @property
    def task_queues(self) -> list[str]:
        """The queues this group polls."""
        return [w.task_queue for w in self.workers]

    async def __aenter__(self) -> WorkerGroup:
        self._runs = [asyncio.create_task(w.run()) for w in self.workers]
        # Yield once so every worker starts polling before the caller goes on.
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop polling, let running activities finish within the grace period, then return."""
        await asyncio.gather(
            *(w.shutdown() for w in self.workers if w.is_running), return_exceptions=True
        )
        results = await asyncio.gather(*self._runs, return_exceptions=True)
        self._runs = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
