"""The secrets a package may declare and where the platform holds them.

The platform has no team-scoped secret store: the only secret a tool hands to an agent is the
operator's (`CAPE_GITHUB_TOKEN`, read by the `github_*` tools). A package declares the names it
needs (`permissions.secrets`); an install is refused when one is not a secret the platform can
give, or is not set, and an installed agent's tools use only the secrets its package declared
(`sandbox_limits.secrets_allow`).
"""

from __future__ import annotations

from typing import Final

from cape.settings import Settings

# Manifest name -> (the setting that holds it, its environment variable).
PLATFORM_SECRETS: Final = {"GITHUB_TOKEN": ("github_token", "CAPE_GITHUB_TOKEN")}


def missing_secrets(names: list[str], settings: Settings) -> list[dict[str, str]]:
    """A problem (`body.accept_permissions`) for each declared secret the platform cannot give."""
    problems = []
    for name in sorted(set(names)):
        found = PLATFORM_SECRETS.get(name)
        if found is None:
            known = ", ".join(sorted(PLATFORM_SECRETS))
            message = (
                f"secret {name} cannot be given to agents: this platform has no store for it "
                f"(it holds: {known})"
            )
        elif not getattr(settings, found[0]).get_secret_value():
            message = f"secret {name} is not set: the operator must set {found[1]}"
        else:
            continue
        problems.append({"field": "body.accept_permissions", "message": message})
    return problems
