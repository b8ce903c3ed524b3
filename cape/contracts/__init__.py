"""Contracts between the API, the workflows and the activities.

Names that Temporal stores (workflow, signal, query and update names, search attribute keys,
failure types) and the shapes of data that outlive the code (the task's pending question,
error, budgets, step outputs) are defined here once, so the writer and every reader share them.
The core package holds them so that `api/`, `activities/` and `workflows/` can all import them.
"""
