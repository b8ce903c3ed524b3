"""The `shell` tool and its program allow/deny guard."""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.venv import TIMEOUT_PROPERTY, call_limits, run_logged, workspace_path

ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
RESERVED = {"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"}
RESERVED |= {"esac"}
WORD_LISTS = {"for", "case", "select", "function"}  # what follows names no program
# Programs that run another program: (options taking a separate value, words before the program).
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
    "command": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "nohup": (frozenset(), 0),
    "setsid": (frozenset(), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "xargs": (frozenset({"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"}), 0),
    "sudo": (frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"}), 0),
}
SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
# Builtins that run nothing else need no allow-list entry (the deny-list still sees them).
BUILTINS = {":", "[", "cd", "command", "echo", "eval", "exec", "exit", "export", "false", "local"}
BUILTINS |= {"printf", "read", "return", "set", "shift", "test", "true", "umask", "unset", "wait"}
# Longest first: a run of punctuation splits greedily into operators.
OPERATORS = ["&>>", "<<<", "&&", "||", ";;", "|&", ">>", "<<", ">&", "<&", "&>", "<>", ">|"]
OPERATORS += ["((", "))", ";", "&", "|", "(", ")", "<", ">", "`", "\n"]
REDIRECTS = {"<", ">", ">>", "<<", "<<<", ">&", "<&", "&>", "&>>", "<>", ">|"}
PUNCTUATION = ";&|()<>`\n"
MAX_NESTING = 8


def programs(command: str, depth: int = 0) -> list[str]:
    """Every program name `command` invokes, by basename, in order.

    Simple commands are split on `; && || | &`, newlines and subshell parentheses; the first
    word of each counts (after `VAR=value` assignments), and for wrappers like `env`, `timeout`
    or `xargs` so does the program they run. `sh -c`, `eval` and `$(...)` are looked into.
    """
    if depth > MAX_NESTING:
        raise ToolError("the command nests too deeply to check against the program policy")
    lexer = shlex.shlex(_prescan(command), posix=True, punctuation_chars=PUNCTUATION)
    lexer.whitespace, lexer.commenters, lexer.whitespace_split = " \t\r", "", True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise ToolError(f"cannot parse the command: {exc}") from None
    found: list[str] = []
    words: list[str] = []
    skip_target = arithmetic = False
    for token in [*tokens, "\n"]:
        if token and all(c in PUNCTUATION for c in token):
            for op in _operators(token):
                if arithmetic or op == "((":
                    arithmetic = op != "))"
                elif op in REDIRECTS:
                    skip_target = True
                    if words and words[-1].isdigit():
                        words.pop()  # the fd number of `2>&1` is not a word of the command
                else:
                    found += _simple_programs(words, depth)
                    words = []
            continue
        for inner in _substitutions(token):
            found += programs(inner, depth + 1)
        if skip_target or arithmetic:
            skip_target = False
            continue
        words.append(token)
    return found


def _operators(token: str) -> list[str]:
    ops = []
    while token:
        op = next(o for o in OPERATORS if token.startswith(o))
        ops.append(op)
        token = token[len(op) :]
    return ops


def _simple_programs(words: list[str], depth: int) -> list[str]:
    found: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in WORD_LISTS:
            break
        if word in RESERVED or ASSIGNMENT.match(word):
            i += 1
            continue
        name = PurePosixPath(word).name or word
        found.append(name)
        rest = words[i + 1 :]
        if name in WRAPPERS and not (name == "command" and rest[:1] in (["-v"], ["-V"])):
            i = _wrapped_start(name, words, i + 1)
            continue
        if name in SHELLS:
            found += _shell_script_programs(rest, depth)
        elif name == "eval":
            found += programs(" ".join(rest), depth + 1)
        break
    return found


def _wrapped_start(name: str, words: list[str], i: int) -> int:
    takes_value, positional = WRAPPERS[name]
    while i < len(words):
        word = words[i]
        if word == "--":
            i += 1
            break
        if word.startswith("-") and len(word) > 1:
            i += 2 if word in takes_value else 1
        elif name == "env" and ASSIGNMENT.match(word):
            i += 1
        else:
            break
    return i + positional


def _shell_script_programs(args: list[str], depth: int) -> list[str]:
    wants_script = False
    for i, arg in enumerate(args):
        if arg in ("-o", "+o"):
            continue
        if i and args[i - 1] in ("-o", "+o"):
            continue
        if arg.startswith(("-", "+")) and arg != "--":
            wants_script = wants_script or "c" in arg[1:]
            continue
        return programs(arg, depth + 1) if wants_script else []
    return []


def _substitutions(word: str) -> list[str]:
    found = word.split("`")[1::2]
    start = word.find("$(")
    while start >= 0:
        depth, end = 0, len(word)
        for end in range(start + 1, len(word)):
            depth += {"(": 1, ")": -1}.get(word[end], 0)
            if depth == 0:
                break
        if not word.startswith("$((", start):
            found.append(word[start + 2 : end])
        start = word.find("$(", end)
    return found


def _prescan(command: str) -> str:
    """The command without comments, line continuations and here-document bodies."""
    out: list[str] = []
    pending: list[tuple[str, bool]] = []  # here-document delimiters waiting for their body
    i, prev = 0, "\n"
    while i < len(command):
        char = command[i]
        if char == "\\":
            piece, i = ("" if command[i + 1 : i + 2] == "\n" else command[i : i + 2]), i + 2
        elif char in "'\"":
            end = _quote_end(command, i)
            piece, i = command[i:end], end
        elif char == "#" and prev in " \t\n;&|()":
            end = command.find("\n", i)
            i = len(command) if end < 0 else end
            continue
        elif command.startswith("<<", i) and not command.startswith("<<<", i):
            match = re.compile(r"(-?)[ \t]*((?:'[^']*'|\"[^\"]*\"|[^\s;&|()<>`])+)").match(
                command, i + 2
            )
            end = match.end() if match else i + 2
            if match:
                delimiter = match.group(2).replace("'", "").replace('"', "").replace("\\", "")
                pending.append((delimiter, bool(match.group(1))))
            piece, i = command[i:end], end
        elif char == "\n" and pending:
            i = _skip_bodies(command, i + 1, pending)
            pending, piece = [], "\n"
        else:
            piece, i = char, i + 1
        out.append(piece)
        prev = piece[-1:] or prev
    return "".join(out)


def _quote_end(command: str, start: int) -> int:
    if command[start] == "'":
        end = command.find("'", start + 1)
        return len(command) if end < 0 else end + 1
    i = start + 1
    while i < len(command) and command[i] != '"':
        i += 2 if command[i] == "\\" else 1
    return min(i + 1, len(command))


def _skip_bodies(command: str, i: int, pending: list[tuple[str, bool]]) -> int:
    for delimiter, strip_tabs in pending:
        while i < len(command):
            end = command.find("\n", i)
            end = len(command) if end < 0 else end
            line, i = command[i:end], end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
    return i


def check_policy(command: str, allow: list[str], deny: list[str]) -> None:
    """Refuse a command that runs a denied program, or one off a non-empty allow-list.

    This is a policy guard that catches the obvious (a model reaching for `ssh` or `curl`);
    it is not the security boundary: a program can start another in ways no parser sees. The
    sandbox (no network, read-only system, only the workspace writable) is the boundary.
    """
    denied = {PurePosixPath(d).name for d in deny}
    allowed = {PurePosixPath(a).name for a in allow}
    for name in programs(command):
        if name in denied:
            raise ToolError(f"the program {name!r} is denied by the operator (CAPE_SHELL_DENY)")
        if allowed and name not in allowed and name not in BUILTINS:
            raise ToolError(
                f"the program {name!r} is not allowed; allowed programs: {', '.join(allow)}"
            )


async def shell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Run `command` with `/bin/sh -c` in the sandbox, in `cwd` under the workspace."""
    command: str = args["command"]
    check_policy(command, ctx.settings.shell_allow, ctx.settings.shell_deny)
    cwd = await asyncio.to_thread(workspace_path, ctx.workspace, args.get("cwd", "."), "cwd")
    limits = call_limits(ctx, args.get("timeout_seconds"))
    return await run_logged(ctx, "shell", ["/bin/sh", "-c", command], limits=limits, cwd=cwd)


TOOLS = [
    ToolSpec(
        name="shell",
        description=(
            "Run a shell command (/bin/sh -c) in the task's sandbox: the workspace is the "
            "current directory (/workspace) and the only writable place; there is no network. "
            "Returns the exit code and the output (long output keeps its head and tail)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "command": {"type": "string", "minLength": 1, "description": "The command line."},
                "cwd": {
                    "type": "string",
                    "description": "Directory to run in, relative to the workspace (default: .).",
                },
                "timeout_seconds": TIMEOUT_PROPERTY,
            },
            "required": ["command"],
            "additionalProperties": False,
        },
        risk=Risk.EXECUTE,
        placement=Placement.WORKSPACE,
        handler=shell,
        needs_isolation=True,
    )
]
