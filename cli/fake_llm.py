"""`cape fake-llm`: run the scripted OpenAI-compatible LLM in the foreground."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from cli.testing.fake_llm import (
    Script,
    ScriptRegistry,
    base_url_for,
    bind_socket,
    create_app,
    load_scripts,
    uvicorn_server,
)


@click.command("fake-llm")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8999, show_default=True, type=int, help="Port (0: any free one).")
@click.option(
    "--script",
    "script_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML or JSON file of scripts to load (repeatable).",
)
@click.option(
    "--chunk-size",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Characters per streamed delta.",
)
def fake_llm(host: str, port: int, script_files: tuple[Path, ...], chunk_size: int) -> None:
    """Serve a scripted OpenAI-compatible LLM until Ctrl-C.

    Use model `script:<name>` for a loaded script, or `demo` (any other model) for the
    built-in demo agent that writes answer.md.
    """
    scripts: list[Script] = []
    for path in script_files:
        try:
            scripts.extend(load_scripts(path))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise click.ClickException(f"cannot load scripts from {path}: {exc}") from exc
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    registry = ScriptRegistry(scripts)
    names = ", ".join(registry.names()) or "none"
    click.echo(f"Fake LLM serving at {base_url_for(sock)} (scripts: {names}; Ctrl-C to stop)")
    click.echo(f"  export OPENAI_BASE_URL={base_url_for(sock)} OPENAI_API_KEY=fake")
    try:
        uvicorn_server(create_app(registry, chunk_size=chunk_size)).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal.
        pass
    finally:
        sock.close()
    click.echo("Fake LLM stopped.")


COMMANDS = [fake_llm]
