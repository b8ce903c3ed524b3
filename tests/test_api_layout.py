"""Rules of api/ that no test of a route would notice breaking (issue 13, part 4).

Routes stay thin (dependencies, their resource's schemas and services), none closes or releases
a session by hand (OwnedTaskDep and short service sessions do that), and the API calls the task
workflow by reference, never by a string name.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

API = Path(__file__).resolve().parent.parent / "api"
ROUTE_MODULES = sorted([*API.glob("*/routes.py"), *API.glob("*/*_routes.py")])
# Third-party packages a route may use: the web framework and its models.
ROUTE_PACKAGES = {"fastapi", "starlette", "pydantic"}
# Client calls whose first argument names a workflow, signal, query or update.
TEMPORAL_CALLS = {
    "start_workflow",
    "execute_workflow",
    "signal",
    "query",
    "execute_update",
    "start_update",
    "signal_with_start_workflow",
}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


@pytest.mark.parametrize("path", ROUTE_MODULES, ids=lambda p: str(p.relative_to(API)))
def test_routes_import_only_deps_and_their_resource(path: Path) -> None:
    resource = f"api.{path.parent.name}."
    wrong = [
        name
        for name in _imported(_tree(path))
        if not (
            name in ("__future__", "api.deps")
            or name.startswith(resource)
            or name.split(".")[0] in ROUTE_PACKAGES
            or name.split(".")[0] in sys.stdlib_module_names
        )
    ]
    assert not wrong, f"{path.relative_to(API)} imports {wrong}: move that into a service"


def test_there_are_route_modules() -> None:
    assert len(ROUTE_MODULES) >= 10


def test_no_module_of_the_api_releases_a_session_by_hand() -> None:
    found = []
    for path in sorted(API.rglob("*.py")):
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "release":
                found.append(f"{path.relative_to(API)}:{node.lineno} release(...)")
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "close"
                and isinstance(func.value, ast.Name)
                and "session" in func.value.id
            ):
                found.append(f"{path.relative_to(API)}:{node.lineno} {func.value.id}.close()")
    assert not found, f"use OwnedTaskDep or a short service session instead: {found}"


def test_the_api_calls_temporal_by_reference() -> None:
    found = []
    for path in sorted(API.rglob("*.py")):
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in TEMPORAL_CALLS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append(f"{path.relative_to(API)}:{node.lineno} {node.func.attr}")
    assert not found, f"call the workflow's methods, not names: {found}"
