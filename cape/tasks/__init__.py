"""Creating tasks: their ids, their rows and `task-created` events, and how their workflow starts.

Every task row is built here, whoever creates it (the API's create, rerun and fork, a
schedule's run registering itself in its first activity), so a new entry point (triggers,
delegation) starts tasks the same way. Core code: it names the workflow's Temporal options
but never imports `workflows/`; the start call itself is made by reference by a thin starter
in a layer that may import the workflow class.
"""
