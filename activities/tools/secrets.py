"""The operator's credentials a tool may use for an agent: only those its package declared.

An installed marketplace agent's spec carries `sandbox_limits.secrets_allow` (its package's
`permissions.secrets`); an agent without the list (any other agent) uses the operator's
credentials as before. The names are the manifest's (`GITHUB_TOKEN`).
"""

from __future__ import annotations

from activities.tools.base import ToolContext, ToolError


def allowed(ctx: ToolContext, name: str) -> bool:
    """Whether this agent may use the operator's secret `name`."""
    declared = ctx.limits.get("secrets_allow")
    return declared is None or name in declared


def require(ctx: ToolContext, name: str) -> None:
    """Refuse the tool call when the agent's package did not declare secret `name`."""
    if not allowed(ctx, name):
        raise ToolError(
            f"refused: secret {name} is not available to this agent (its package did not "
            "declare it in permissions.secrets)"
        )
