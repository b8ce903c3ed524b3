"""Tasks: create, read, wait, cancel, operate (pause, resume, retry, rerun, fork) and answer."""
