"""Administration: task rows against Temporal's workflows (reconcile)."""
