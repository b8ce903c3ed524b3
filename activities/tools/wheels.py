"""Packages for `pip_install`, fetched on the host by a trusted pip, installed offline.

The task's venv lives in the workspace, which the agent controls: its `bin/python` may be any
program. So nothing in the workspace ever runs with the network. The worker's own pip (its
interpreter, not the task's) resolves the allowed requirements and downloads them as wheels
only (`--only-binary=:all:`: nothing is built, so no package code runs) into a staging
directory outside the workspace. The install then runs in the sandbox, without network, from
that directory alone (`pip install --no-index --find-links`), shown read-only at its own path.

The fetch runs as the worker's user: the worker's interpreter often lives where the sandbox user
cannot read it (a pyenv or venv under /root), and the process runs only pip's own code.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from pathlib import Path

import structlog

from activities.tools.base import ToolError
from cape.settings import Settings

log = structlog.get_logger(__name__)

# What the host's pip may read from the worker's environment: its own settings (index, trusted
# hosts, certificates, proxies), never the worker's secrets.
_PASSED = ("PATH", "HOME", "LANG", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE")
_PASSED_PREFIXES = ("PIP_", "http_proxy", "https_proxy", "no_proxy", "REQUESTS_CA_BUNDLE")
_OUTPUT_CHARS = 4000
NO_WHEEL_HINT = (
    "pip_install installs wheels (binary packages) only, so that no package code runs while "
    "packages are fetched; a package published only as a source distribution (sdist) cannot be "
    "installed. Pick a version that has a wheel for this Python, or another package."
)


@functools.cache
def sandbox_python_version(python: str) -> str:
    """`major.minor` of the sandbox's interpreter (a system path the operator set, not the task's).

    Raises:
        ToolError: the interpreter does not run.
    """
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print('{}.{}'.format(*sys.version_info[:2]))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolError(
            f"the sandbox's Python ({python}, CAPE_SANDBOX_PYTHON) does not run: {exc}"
        ) from None
    return done.stdout.strip()


def pip_environment() -> dict[str, str]:
    """The worker's environment reduced to what pip needs."""
    return {
        key: value
        for key, value in os.environ.items()
        if key in _PASSED or key.startswith(_PASSED_PREFIXES)
    }


def download_argv(settings: Settings, packages: list[str], dest: Path) -> list[str]:
    """The trusted `pip download` command: wheels for the sandbox's Python, into `dest`."""
    argv = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest)]
    argv += ["--no-input", "--disable-pip-version-check", "--no-cache-dir", "--progress-bar=off"]
    version = sandbox_python_version(str(settings.sandbox_python))
    if version != "{}.{}".format(*sys.version_info[:2]):
        argv += ["--python-version", version]
    if settings.pip_index_url:
        argv += ["--index-url", settings.pip_index_url]
    return [*argv, *packages]


async def download_wheels(
    settings: Settings, packages: list[str], dest: Path, timeout: float
) -> str:
    """Fetch `packages` and their dependencies as wheels into `dest`; returns pip's output.

    Raises:
        ToolError: pip failed (with its last lines, and a hint when no wheel exists), or it
            took longer than `timeout` seconds.
    """
    argv = await asyncio.to_thread(download_argv, settings, packages, dest)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=pip_environment(),
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        raise ToolError(f"fetching the packages took longer than {timeout:g} s") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode("utf-8", "replace")
    log.info("wheels fetched", packages=packages, exit_code=proc.returncode)
    if proc.returncode != 0:
        hint = f"\n{NO_WHEEL_HINT}" if "No matching distribution" in text else ""
        raise ToolError(f"could not fetch {', '.join(packages)}:\n{text[-_OUTPUT_CHARS:]}{hint}")
    return text
