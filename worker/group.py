"""Several Temporal workers of one process, started and stopped together."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType

from temporalio.worker import Worker


class WorkerGroup:
    """Runs its workers as one: `async with group:` starts them all and shuts them all down.

    Each worker is entered as its own async context manager, so the SDK's semantics hold: a
    fatal worker error cancels the block and is raised when it exits.
    """

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> WorkerGroup:
        async with AsyncExitStack() as stack:
            for worker in self.workers:
                await stack.enter_async_context(worker)
            self._stack = stack.pop_all()
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
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
