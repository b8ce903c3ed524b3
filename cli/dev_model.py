"""`cape dev`'s model: the bundled scripted LLM when no provider is configured.

With no OPENAI_API_KEY, no OPENAI_BASE_URL and no other provider, `cape dev` runs `cape fake-llm`
as one more child and gives its worker and API the `demo` model there, so a first task succeeds
on a machine without a key. With a provider configured nothing changes.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from cape.settings import Settings
from cli.devserver import DevServerError
from cli.testing.scripts import DEMO_MODEL

READY_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DemoModel:
    """The scripted LLM child of `cape dev`: its command and where it listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The OpenAI base URL the worker calls."""
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        """The child's command line."""
        cli = [sys.executable, "-m", "cli", "fake-llm"]
        return [*cli, "--host", self.host, "--port", str(self.port)]

    def configure(self, settings: Settings) -> Settings:
        """The children's settings: the `demo` model, served here."""
        return settings.model_copy(
            update={"openai_base_url": self.base_url, "default_model": DEMO_MODEL}
        )

    def wait_ready(self, alive: Callable[[], bool], timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Return once the server answers, or as soon as `alive` says the child is gone.

        Raises:
            DevServerError: It did not answer within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as http:
            while alive():
                try:
                    if http.get(f"{self.base_url}/models").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise DevServerError(
                        f"the bundled scripted LLM did not answer at {self.base_url}"
                    )
                time.sleep(0.1)


def demo_model(settings: Settings, host: str) -> DemoModel | None:
    """The scripted LLM to run when no provider is configured, on a free port; else None."""
    # Imported here: the openai SDK it loads doubled the start-up time of every `cape` command.
    from cape.llm.providers import any_configured

    if any_configured(settings):
        return None
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    return DemoModel(host, port)


def model_line(settings: Settings, demo: DemoModel | None) -> str:
    """The banner's line saying which model serves tasks (and, for the demo, how to change it)."""
    if demo is None:
        return f"{settings.default_model} at {settings.openai_base_url}"
    return (
        f"{DEMO_MODEL}, the bundled scripted LLM at {demo.base_url} (no provider configured; "
        "set OPENAI_API_KEY or OPENAI_BASE_URL and restart for a real model)"
    )
