"""The HTTP API (FastAPI), one package per resource.

`app.py` builds the application; `deps.py` holds the dependency aliases routes declare
(`SettingsDep`, `PrincipalDep`, `OwnedTaskDep`, ...); `errors.py` maps every error to the JSON
error body; `pagination.py` holds the listing cursors; `middleware/` guards request bodies.

Each resource package (`tasks/`, `agents/`, `schedules/`, `artifacts/`, `streams/`, `admin/`,
`usage/`, `health/`) has `routes.py` (thin: dependencies in, a service call, a view out),
`schemas.py` (request and response models) and its services. A new resource (events,
instances, locks, teams, marketplace) is a new package with the same shape, its router included
in `app.py`.

Routes never hold a database session while they wait on Temporal or stream: a route that does
takes `OwnedTaskDep` (the task, read in a session already closed) and passes the session
factories to services that open short sessions (on SQLite a writing session holds the write
lock the worker needs). Tasks are created through `cape/tasks` (the row, its event, the
workflow input and the start options) and their workflow started by reference in
`tasks/launch.py`.
"""
