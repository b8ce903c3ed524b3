"""GitHub REST tools: open an issue or a pull request with the operator's token."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.git_ops import NO_TOKEN, parse_repo, redact
from activities.tools.secrets import require

log = structlog.get_logger(__name__)

API_TIMEOUT_SECONDS = 30.0
API_VERSION = "2022-11-28"
REPO_PROPERTY = {"type": "string", "description": "The repository as 'owner/name'."}


def _error_text(response: httpx.Response) -> str:
    """GitHub's `message`, plus the per-field `errors` it gives on 422."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "no details"
    if not isinstance(data, dict):
        return response.reason_phrase or "no details"
    text = str(data.get("message") or response.reason_phrase)
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            details.append(str(error.get("message") or error.get("code") or error))
        else:
            details.append(str(error))
    return f"{text} ({'; '.join(details)})" if details else text


async def post(ctx: ToolContext, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST `payload` to the GitHub API at `path` and return the JSON object it answers.

    Raises:
        ToolError: no token configured, GitHub unreachable, or an error status (with its message).
    """
    require(ctx, "GITHUB_TOKEN")
    token = ctx.settings.github_token.get_secret_value()
    if not token:
        raise ToolError(NO_TOKEN)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "CapeControl",
    }
    url = ctx.settings.github_api_url.rstrip("/") + path
    try:
        async with httpx.AsyncClient(timeout=API_TIMEOUT_SECONDS) as client:
            response = await client.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        # `from None`: the chained exception holds the request, and with it the token.
        reason = redact(str(exc), token) or type(exc).__name__
        raise ToolError(f"could not reach the GitHub API: {reason}") from None
    if response.status_code >= 400:
        text = redact(_error_text(response), token)
        log.info("github api error", path=path, status=response.status_code)
        raise ToolError(f"GitHub API error {response.status_code}: {text}")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or "number" not in data:
        raise ToolError(f"unexpected answer from the GitHub API for {path}")
    return data


async def github_issue(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Open an issue; returns its number and URL."""
    owner, name = parse_repo(args["repo"])
    payload: dict[str, Any] = {"title": args["title"], "body": args["body"]}
    if args.get("labels"):
        payload["labels"] = args["labels"]
    data = await post(ctx, f"/repos/{owner}/{name}/issues", payload)
    number, url = data["number"], str(data.get("html_url", ""))
    log.info("github issue created", repo=f"{owner}/{name}", number=number)
    record = {"action": "issue", "repo": f"{owner}/{name}", "number": number, "url": url}
    return ToolOutput(f"created issue #{number} in {owner}/{name}: {url}", [("github", record)])


async def github_pull_request(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Open a pull request from `head` into `base`; returns its number and URL."""
    owner, name = parse_repo(args["repo"])
    payload = {key: args[key] for key in ("title", "head", "base", "body")}
    payload["draft"] = bool(args.get("draft", False))
    data = await post(ctx, f"/repos/{owner}/{name}/pulls", payload)
    number, url = data["number"], str(data.get("html_url", ""))
    log.info("github pull request created", repo=f"{owner}/{name}", number=number)
    record = {"action": "pull_request", "repo": f"{owner}/{name}", "number": number, "url": url}
    content = f"created pull request #{number} ({args['head']} -> {args['base']}): {url}"
    return ToolOutput(content, [("github", record)])


API_TOOLS = [
    ToolSpec(
        name="github_issue",
        description="Open an issue on a GitHub repository. Returns the issue number and URL.",
        parameters={
            "type": "object",
            "properties": {
                "repo": REPO_PROPERTY,
                "title": {"type": "string", "minLength": 1, "description": "The issue title."},
                "body": {"type": "string", "description": "The issue text (Markdown)."},
                "labels": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "description": "Existing label names to apply.",
                },
            },
            "required": ["repo", "title", "body"],
            "additionalProperties": False,
        },
        risk=Risk.EXTERNAL,
        placement=Placement.WORKSPACE,
        handler=github_issue,
    ),
    ToolSpec(
        name="github_pull_request",
        description=(
            "Open a pull request on a GitHub repository (push the branch with git_push first). "
            "Returns the pull request number and URL."
        ),
        parameters={
            "type": "object",
            "properties": {
                "repo": REPO_PROPERTY,
                "title": {"type": "string", "minLength": 1, "description": "The PR title."},
                "head": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The branch with the changes ('branch' or 'owner:branch').",
                },
                "base": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Branch to merge into.",
                },
                "body": {"type": "string", "description": "The PR description (Markdown)."},
                "draft": {"type": "boolean", "description": "Open as a draft (default false)."},
            },
            "required": ["repo", "title", "head", "base", "body"],
            "additionalProperties": False,
        },
        risk=Risk.EXTERNAL,
        placement=Placement.WORKSPACE,
        handler=github_pull_request,
    ),
]
