"""Creating tasks: their ids, rows and `task-created` events, workflow inputs and start options.

Every task row and every `AgentTaskInput` is built here, whoever creates the task (the API's
create, rerun and fork, a schedule's action and the row its run registers in its first
activity, the reconciler's restart), so a new entry point (triggers, delegation) starts tasks
the same way. `ids` names tasks, `limits` checks their budgets, `rows` builds the row,
`workflow_input` the input and `start` the options of the start. Core code: it never imports
`workflows/`; the start call itself is made by reference by a thin starter in a layer that may
import the workflow class (docs/architecture.md, "Starting a task").
"""
