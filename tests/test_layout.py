"""No import goes up the layout table of docs/architecture.md.

The table is read from the document itself, so the rules a reader sees are the rules the code is
held to. Every import counts: module level, inside functions, under `if TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
SECTION = "## Layout"
FOLDER = re.compile(r"`(\w[\w/]*/|\w[\w/]*\.py)`")  # a folder, or one module
DOTTED = re.compile(r"`(\w[\w.]*)`")


@dataclass(frozen=True)
class Rule:
    folder: str  # "cli/testing/"
    allowed: tuple[str, ...] | None  # None: may import anything (tests, bench)


@dataclass(frozen=True)
class Layout:
    rules: tuple[Rule, ...]
    exceptions: frozenset[tuple[str, str]]  # (importing module, imported module or package)

    def rule_for(self, path: str) -> Rule | None:
        """The most specific row whose folder holds `path` ("cli/testing/demo/")."""
        matches = [rule for rule in self.rules if path.startswith(rule.folder)]
        return max(matches, key=lambda rule: len(rule.folder), default=None)

    @property
    def top_folders(self) -> set[str]:
        return {rule.folder.split("/")[0] for rule in self.rules}


def _tables(section: str) -> list[list[list[str]]]:
    """The markdown tables of `section`, as rows of cells, without header and separator."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in section.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return [table[2:] for table in tables]


def _as_folder(path: str) -> str:
    """`cape/domain.py` as the prefix its module's path has (`cape/domain/`)."""
    return path.removesuffix(".py") + "/" if path.endswith(".py") else path


def read_layout(doc: str) -> Layout:
    """The rules and exceptions of the "Layout" section of docs/architecture.md."""
    start = doc.index(SECTION)
    end = doc.find("\n## ", start + len(SECTION))
    rows, exceptions = _tables(doc[start : end if end != -1 else None])[:2]
    rules = tuple(
        Rule(
            folder,
            None if "anything" in allowed else tuple(map(_as_folder, FOLDER.findall(allowed))),
        )
        for folders, _what, allowed in rows
        for folder in FOLDER.findall(folders)
    )
    pairs = frozenset(
        (DOTTED.findall(module)[0], DOTTED.findall(imported)[0])
        for module, imported, _why in exceptions
    )
    return Layout(rules, pairs)


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> set[str]:
    """Every module `path` imports, anywhere in the file, as absolute dotted names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = [node.module] if node.module else []
            if node.level:
                anchor = package.split(".")
                parts = anchor[: len(anchor) - (node.level - 1)] + parts
            # `from cli import testing` imports the package cli.testing, not just cli.
            found.update(".".join([*parts, alias.name]) for alias in node.names)
    return found


def excepted(layout: Layout, module: str, target: str) -> bool:
    """Whether an exception row allows `module` to import `target` (or inside it)."""
    return any(module == m and f"{target}.".startswith(f"{t}.") for m, t in layout.exceptions)


def violations(root: Path, layout: Layout) -> list[str]:
    """Each import in `root` that the layout forbids, as "importer -> imported (rule)"."""
    found = []
    for top in sorted(layout.top_folders):
        for path in sorted((root / top).rglob("*.py")):
            module = module_name(path, root)
            rule = layout.rule_for(module.replace(".", "/") + "/")
            if rule is None or rule.allowed is None:
                continue
            for target in sorted(imports(path, module)):
                target_path = target.replace(".", "/") + "/"
                if target.split(".")[0] not in layout.top_folders:
                    continue  # the standard library or a dependency
                if target_path.startswith((rule.folder, *rule.allowed)):
                    continue
                if excepted(layout, module, target):
                    continue
                found.append(f"{module} -> {target} ({rule.folder} may import {rule.allowed})")
    return found


def test_no_import_goes_up_the_layout_table() -> None:
    layout = read_layout(DOC.read_text())
    assert not violations(ROOT, layout), "\n".join(violations(ROOT, layout))


def test_every_package_has_a_row() -> None:
    layout = read_layout(DOC.read_text())
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name[0] not in "._"}
    assert packages - layout.top_folders == set()
    assert {"cli", "api", "worker", "workflows", "activities", "cape"} <= layout.top_folders


def test_the_table_reads_as_written() -> None:
    layout = read_layout(DOC.read_text())
    assert layout.rule_for("cape/settings/") == Rule("cape/", ())
    assert layout.rule_for("cli/testing/fake_llm/") == Rule("cli/testing/", ("cape/",))
    assert layout.rule_for("tests/harness/") == Rule("tests/", None)
    assert layout.rule_for("cape/contracts/temporal/") == Rule("cape/contracts/", ("cape/domain/",))


def test_upward_imports_anywhere_in_a_module_are_found(tmp_path: Path) -> None:
    layout = read_layout(DOC.read_text())
    files = {
        "cape/__init__.py": "",
        "cape/ok.py": "import os\nfrom cape import settings\nfrom . import ok\n",
        "cape/lazy.py": "def f():\n    from api.app import create_app\n",
        "cape/contracts/names.py": "from cape.domain import Status\nfrom cape.db import models\n",
        "cape/typed.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import worker.main\n"
        ),
        "cli/__init__.py": "",
        "cli/testing/__init__.py": "",
        "cli/testing/fake.py": "from cli.devserver import temporal_binary\nfrom cape import x\n",
        "cli/testing/rel.py": "from .fake import y\nfrom .. import devserver\n",
        "cli/main.py": "from api.app import create_app\nfrom cli.testing import fake\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path, layout)
    assert [line.split(" (")[0] for line in found] == [
        "cape.contracts.names -> cape.db.models",
        "cape.lazy -> api.app.create_app",
        "cape.typed -> worker.main",
        "cli.testing.fake -> cli.devserver.temporal_binary",
        "cli.testing.rel -> cli.devserver",
    ]


def test_an_exception_row_allows_exactly_its_import(tmp_path: Path) -> None:
    header = "| module | imports | why |\n|---|---|---|\n"
    doc = DOC.read_text()
    assert header in doc
    row = "| `cape.lazy` | `api.app` | a reason a reviewer accepts |\n"
    layout = read_layout(doc.replace(header, header + row))
    assert layout.exceptions == {("cape.lazy", "api.app")}
    (tmp_path / "cape").mkdir()
    (tmp_path / "cape/lazy.py").write_text("from api.app import create_app\nimport api.deps\n")
    (tmp_path / "cape/other.py").write_text("from api.app import create_app\n")
    assert [line.split(" (")[0] for line in violations(tmp_path, layout)] == [
        "cape.lazy -> api.deps",
        "cape.other -> api.app.create_app",
    ]
