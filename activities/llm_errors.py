"""Classifying LLM HTTP errors into Temporal retry decisions (DESIGN.md, Errors)."""

from __future__ import annotations

from datetime import timedelta

import openai
from temporalio.exceptions import ApplicationError

from cape.contracts.failures import Failure, llm_http

RETRYABLE_STATUS = frozenset({408, 409, 429})
MAX_RETRY_AFTER_SECONDS = 300.0


def _retry_after(headers: object) -> float | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw = get("retry-after-ms")
    if raw is not None:
        try:
            return max(0.0, float(raw) / 1000)
        except ValueError:
            pass
    raw = get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: rare for LLM APIs; Temporal's backoff applies instead


def classify(error: Exception) -> tuple[ApplicationError, bool]:
    """Map an openai SDK error to the ApplicationError to raise and whether it will be retried.

    408/409/429/5xx and connection problems retry (honouring `retry-after` through
    `next_retry_delay`); any other 4xx fails the step for good.
    """
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message = f"LLM request failed with HTTP {status}: {_message(error)}"
        retryable = status in RETRYABLE_STATUS or status >= 500
        delay = _retry_after(error.response.headers) if retryable else None
        return (
            ApplicationError(
                message,
                {"status": status},
                type=_permanent_kind(error) or llm_http(status),
                non_retryable=not retryable,
                next_retry_delay=(
                    timedelta(seconds=min(delay, MAX_RETRY_AFTER_SECONDS))
                    if delay is not None
                    else None
                ),
            ),
            retryable,
        )
    if isinstance(error, openai.APITimeoutError | openai.APIConnectionError):
        return ApplicationError(f"LLM unreachable: {error}", type=Failure.LLM_CONNECTION), True
    return ApplicationError(f"LLM call failed: {error!r}", type=Failure.LLM_ERROR), True


CONTEXT_MARKERS = ("context length", "context_length", "maximum context", "context window")


def _permanent_kind(error: openai.APIStatusError) -> Failure | None:
    """`ModelNotFound` or `ContextTooLong`: failures another model may not have."""
    code = ""
    if isinstance(error.body, dict):
        inner = error.body.get("error", error.body)
        code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    text = _message(error).lower()
    if error.status_code == 404 or code == "model_not_found":
        return Failure.MODEL_NOT_FOUND
    if code == "context_length_exceeded" or any(m in text for m in CONTEXT_MARKERS):
        return Failure.CONTEXT_TOO_LONG
    return None


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message
    return str(error.message)
