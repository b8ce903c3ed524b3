"""Helpers shared by the email and pdf tools: sandboxed Jinja2, HTML to text, workspace paths."""

from __future__ import annotations

import operator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from activities.tools.base import ToolError
from activities.tools.workspace_io import read_bytes

# A template may expand its input (loops, repetition); cap what one render can produce.
MAX_RENDER_CHARS = 4 * 1024 * 1024
_MAX_SEQUENCE = 1_000_000
_MAX_EXPONENT = 1_000


class _Env(SandboxedEnvironment):
    """The sandbox plus limits on `*` and `**`, which otherwise allocate without bound."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            sized = isinstance(seq, str | bytes | list | tuple) and isinstance(count, int)
            if sized and len(seq) * count > _MAX_SEQUENCE:
                raise SecurityError("repetition too large")
        return operator.mul(left, right)


def render_template(
    source: str,
    variables: dict[str, Any],
    *,
    autoescape: bool,
    helpers: dict[str, Any] | None = None,
) -> str:
    """Render a Jinja2 template in a sandbox; any template mistake becomes a ToolError.

    Args:
        source: The template text.
        variables: The template's variables.
        autoescape: Escape variables for HTML output.
        helpers: Extra globals (functions) the template may call.

    Returns:
        The rendered text.

    Raises:
        ToolError: On a syntax error, an undefined variable, a sandbox violation or output
            longer than MAX_RENDER_CHARS.
    """
    env = _Env(autoescape=autoescape, undefined=StrictUndefined)
    env.globals.update(helpers or {})
    try:
        template = env.from_string(source)
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_RENDER_CHARS:
                raise ToolError(f"the template renders more than {MAX_RENDER_CHARS} characters")
            parts.append(chunk)
    except ToolError:
        raise
    except Exception as exc:  # syntax, undefined, sandbox and plain runtime errors alike
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ToolError(f"template error{where}: {type(exc).__name__}: {exc}") from None
    return "".join(parts)


class _TextExtractor(HTMLParser):
    """Collects the readable text of an HTML document, one line per block element."""

    _BLOCKS = frozenset(
        {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
        | {"blockquote", "pre", "section", "article", "header", "footer", "ul", "ol"}
    )
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in {"td", "th"}:
            self.parts.append("\t")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(" ".join(data.split()) if data.strip() else "")


def html_to_text(html: str) -> str:
    """The plain-text alternative of an HTML body: visible text, blocks on their own lines."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def read_workspace_text(workspace: Path, relative: str, max_bytes: int) -> str:
    """Read a UTF-8 text file of the workspace, refusing escapes, links and files over `max_bytes`.

    By descriptor (`workspace_io`): a symlink swapped in after the check is never followed.
    """
    return read_bytes(workspace, relative, max_bytes).decode("utf-8", errors="replace")
