"""The CLI's client of the CapeControl HTTP API: errors, API-key discovery and requests."""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx

from cli.terminal import echo

DEFAULT_API_URL = "http://127.0.0.1:8000"
REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0


# --- errors ---------------------------------------------------------------------------------


class CliError(click.ClickException):
    """An expected failure, shown as `error: <message>` without a traceback (exit code 1)."""

    def show(self, file: Any = None) -> None:
        """Print `error: <message>` to stderr (click calls this)."""
        echo(f"error: {self.format_message()}", err=True)


class ApiError(CliError):
    """An error response of the API: `{"error": {"code", "message", "details"}}`."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.details = details

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Build the error from a 4xx/5xx response, JSON error body or not."""
        try:
            body = response.json()
            error = body["error"]
            return cls(
                response.status_code,
                str(error.get("code") or f"http_{response.status_code}"),
                str(error.get("message") or response.reason_phrase),
                error.get("details"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            text = " ".join(response.text.split())[:200] or response.reason_phrase
            return cls(response.status_code, f"http_{response.status_code}", text)

    def show(self, file: Any = None) -> None:
        """Print the error, its field details and, for 401, where keys come from."""
        super().show(file)
        for line in _detail_lines(self.details):
            echo(f"  {line}", err=True)
        if self.status == 401:
            echo(
                f"  hint: pass --api-key, set CAPE_API_KEY, or run `cape dev` "
                f"(it writes {_dev_key_path()})",
                err=True,
            )


def _detail_lines(details: Any) -> list[str]:
    if details is None or details == "" or details == [] or details == {}:
        return []
    if isinstance(details, list):
        lines = []
        for item in details:
            if isinstance(item, dict) and "message" in item:
                where = item.get("field") or item.get("loc") or ""
                lines.append(f"{where}: {item['message']}" if where else str(item["message"]))
            else:
                lines.append(str(item))
        return lines
    if isinstance(details, dict):
        return [f"{key}: {value}" for key, value in details.items()]
    return [str(details)]


def unreachable(url: str) -> CliError:
    """The error for an API that refuses connections.

    Args:
        url: The API's base URL.

    Returns:
        The error to raise.
    """
    return CliError(f"cannot reach the CapeControl API at {url} — is `cape dev` running?")


# --- the API client -------------------------------------------------------------------------


def _dev_key_path() -> Path:
    return Path(os.environ.get("CAPE_DATA_DIR") or ".cape") / "dev-api-key"


def resolve_api_key(explicit: str | None) -> str | None:
    """The API key to send: `--api-key`/CAPE_API_KEY, else the key `cape dev` wrote.

    Args:
        explicit: The value of `--api-key` (click already read CAPE_API_KEY into it).

    Returns:
        The key, or None when there is none (the API then answers `unauthorized`).
    """
    if explicit:
        return explicit.strip()
    try:
        return _dev_key_path().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class ApiClient:
    """A small synchronous client of the CapeControl HTTP API."""

    def __init__(self, url: str, key: str | None) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise CliError(f"invalid API URL {url!r}: it must start with http:// or https://")
        headers = {"Accept": "application/json", "User-Agent": "cape-cli"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            self.http = httpx.Client(
                base_url=self.url,
                headers=headers,
                timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
        except httpx.InvalidURL as exc:
            raise CliError(f"invalid API URL {url!r}: {exc}") from None

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        files: list[Path] | None = None,
    ) -> Any:
        """Send a request and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: Path under the API URL, e.g. `/v1/tasks`.
            params: Query parameters; None values are left out.
            body: JSON body, if any.
            headers: Extra headers.
            timeout: Read timeout in seconds (default 30).
            files: Files to send as multipart `file` parts (named by their base name); the
                body then goes as JSON in the `task` field.

        Returns:
            The response's JSON.

        Raises:
            ApiError: The API answered with an error.
            CliError: The API could not be reached or did not answer.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        read = httpx.Timeout(timeout or REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT)
        with contextlib.ExitStack() as stack:
            try:
                response = self._send(method, path, query, body, headers, read, files, stack)
            except OSError as exc:  # a file to upload could not be read
                raise CliError(f"cannot read {exc.filename}: {exc.strerror}") from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{self.url}{path} did not answer with JSON") from None

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        body: Any,
        headers: dict[str, str] | None,
        read: httpx.Timeout,
        files: list[Path] | None,
        stack: contextlib.ExitStack,
    ) -> httpx.Response:
        sent: dict[str, Any] = {"json": body}
        if files:
            parts = [("file", (f.name, stack.enter_context(f.open("rb")))) for f in files]
            sent = {"data": {"task": json.dumps(body)}, "files": parts}
        try:
            return self.http.request(
                method, path, params=query, headers=headers, timeout=read, **sent
            )
        except httpx.ConnectError:
            raise unreachable(self.url) from None
        except httpx.TimeoutException:
            raise CliError(f"the CapeControl API at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise CliError(f"request to {self.url} failed: {exc}") from None


def api_command(func: Callable[..., None]) -> Callable[..., None]:
    """Add `--api-url` and `--api-key` and pass an `ApiClient` as the first argument.

    Args:
        func: The command's callback; it takes the client first.

    Returns:
        The callback with the two options, which opens and closes the client around it.
    """

    @click.option(
        "--api-url",
        envvar="CAPE_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="Base URL of the API ($CAPE_API_URL).",
    )
    @click.option(
        "--api-key",
        envvar="CAPE_API_KEY",
        default=None,
        help="API key (default: $CAPE_API_KEY, else the key `cape dev` wrote in the data dir).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, api_url: str, api_key: str | None, **kwargs: Any) -> None:
        api = ApiClient(api_url, resolve_api_key(api_key))
        try:
            func(api, *args, **kwargs)
        finally:
            api.close()

    return wrapper
