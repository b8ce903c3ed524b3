"""The security scan of a package: what no installable package may hold.

Blocking: a secret or private key in a prompt or file; a prompt-injection or exfiltration
instruction; a tool an agent lists that the manifest's permissions do not declare; a network
destination named in a prompt or file that the permissions do not declare; an attempt to widen
the operator's shell or pip allow-lists. Warnings: powerful tools (shell, python) and network
tools without declared destinations. Patterns are deliberately concrete (docs/marketplace.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatch
from typing import Any

from cape.marketplace.findings import Step
from cape.marketplace.manifest import Manifest

SECRETS: list[tuple[str, re.Pattern[str]]] = [
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("OpenAI-style API key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("CapeControl API key", re.compile(r"\bcape_[A-Za-z0-9_-]{40,}")),
    (
        "password assignment",
        re.compile(r"(?i)\b(?:password|passwd|secret)\s*[:=]\s*['\"][^'\"\s]{8,}['\"]"),
    ),
]
INJECTIONS: list[tuple[str, re.Pattern[str]]] = [
    (
        "instruction override",
        re.compile(
            r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|system)\s+(?:instructions|prompts?|rules)"
        ),
    ),
    (
        "exfiltration",
        re.compile(
            r"(?i)\b(?:send|post|upload|forward|exfiltrate|leak|email|transmit)\b[^.\n]{0,80}"
            r"\b(?:secrets?|api[ _-]?keys?|credentials?|tokens?|passwords?"
            r"|env(?:ironment)?(?: variables)?|ssh keys?|\.env)\b"
        ),
    ),
    ("exfiltration", re.compile(r"(?i)\bexfiltrat\w*")),
    (
        "hidden action",
        re.compile(
            r"(?i)\b(?:do not|don't|never)\s+(?:tell|inform|mention|reveal to)\s+(?:the\s+)?user"
        ),
    ),
    ("remote code", re.compile(r"(?i)\b(?:curl|wget)\b[^|\n]{0,200}\|\s*(?:ba|z)?sh\b")),
]
WIDENING = re.compile(
    r"(?i)\b(?:CAPE_)?(?:shell_allow|shell_deny|pip_allow|sandbox_mode|fetch_allow_private|fetch_allow_networks)\b"
)
URL = re.compile(r"(?i)\bhttps?://([a-z0-9.-]+)")
POWERFUL = {"shell", "python", "pip_install"}
NETWORK_TOOLS = {"web_fetch", "research"}


def texts(agents: list[dict[str, Any]], files: dict[str, bytes]) -> Iterator[tuple[str, str]]:
    """(where, text) of every prompt, string config value and text file of a package."""
    for index, spec in enumerate(agents):
        where = f"agents.{spec.get('name', index)}"
        yield f"{where}.system_prompt", str(spec.get("system_prompt", ""))
        yield f"{where}.description", str(spec.get("description", ""))
        for key, value in _strings(spec.get("config", {}), "config"):
            yield f"{where}.{key}", value
    for path, data in sorted(files.items()):
        try:
            yield f"files.{path}", data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary data: not a prompt


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path + "." + str(key), str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether `host` is one of `allowed` (`*.example.com` matches its subdomains)."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if host == pattern or (pattern.startswith("*.") and fnmatch(host, pattern)):
            return True
    return False


def scan(
    manifest: Manifest, agents: list[dict[str, Any]], files: dict[str, bytes], step: Step
) -> None:
    """Add the scan's findings of a package to `step`."""
    for where, text in texts(agents, files):
        for what, pattern in SECRETS:
            if pattern.search(text):
                step.block("secret", where, f"holds a secret ({what}); never ship credentials")
        for what, pattern in INJECTIONS:
            if (match := pattern.search(text)) is not None:
                step.block("prompt_injection", where, f"{what}: {match.group(0)[:80]!r}")
        if (match := WIDENING.search(text)) is not None:
            step.block(
                "allow_list_widening",
                where,
                f"names the operator's allow-list setting {match.group(0)!r}; a package "
                "cannot change the shell, pip or network policy",
            )
        for host in dict.fromkeys(h.lower() for h in URL.findall(text)):
            if not host_allowed(host, manifest.permissions.network):
                step.block(
                    "undeclared_destination",
                    where,
                    f"names {host!r}, which permissions.network does not declare",
                )
    _tool_findings(manifest, agents, step)


def _tool_findings(manifest: Manifest, agents: list[dict[str, Any]], step: Step) -> None:
    declared = set(manifest.permissions.tools)
    for index, spec in enumerate(agents):
        name = spec.get("name", index)
        for tool in spec.get("tools", []) or []:
            tool_name = (
                tool
                if isinstance(tool, str)
                else tool.get("name")
                if isinstance(tool, dict)
                else None
            )
            if tool_name is None:
                continue
            where = f"agents.{name}.tools.{tool_name}"
            if tool_name not in declared:
                step.block(
                    "undeclared_tool", where, f"tool {tool_name!r} is not in permissions.tools"
                )
            elif tool_name in POWERFUL:
                step.warn("powerful_tool", where, f"tool {tool_name!r} runs code in the sandbox")
            if tool_name in NETWORK_TOOLS and not manifest.permissions.network:
                step.warn(
                    "no_destinations",
                    where,
                    f"{tool_name!r} is listed but permissions.network is empty: "
                    "it can reach nothing",
                )
        if "pip_install" in declared and not manifest.permissions.pip:
            step.warn("no_pip", "permissions.pip", "pip_install is declared but no package is")
