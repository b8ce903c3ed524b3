"""The `cape` command: subcommands live in their own modules and are added here."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="capecontrol")
def cli() -> None:
    """CapeControl: durable AI-agent tasks on Temporal."""


def _register() -> None:
    # Imported here so `cape --help` stays cheap and each command module stays independent.
    from cli import (
        agents,
        answers,
        capabilities,
        dev,
        doctor,
        events,
        fake_llm,
        instances,
        keys,
        locks,
        pkg,
        processes,
        replay,
        schedules,
        task_ops,
        task_tree,
        tasks,
        workspaces,
    )

    # task_ops and task_tree add their commands to the `cape tasks` group when imported.
    modules = (
        dev, processes, keys, doctor, fake_llm, tasks, task_ops, answers, schedules, agents,
        workspaces, replay, events, locks, pkg, instances, capabilities, task_tree,
    )  # fmt: skip
    for module in modules:
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    """Entry point of the `cape` console script."""
    from cli.exiting import exit_now, exit_status, runtime_loaded

    _register()
    try:
        cli()
    except SystemExit as exc:
        if not runtime_loaded():
            raise
        exit_now(exit_status(exc))
