"""The platform's Prometheus metrics, one set per process in prometheus-client's registry.

Labels are bounded: agents, teams (`team`: the team id), models, tools, statuses and route
templates, never
task ids. Each process (API, every worker) has its own registry and serves it itself: the API
on `/metrics`, a worker on `CAPE_WORKER_METRICS_PORT`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Steps span milliseconds (bookkeeping) to the sandbox's 15-minute ceiling.
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

TASKS_STARTED = Counter(
    "cape_tasks_started",
    "Tasks whose run began (their workspace step succeeded), by agent and team.",
    ["agent", "team"],
)
TASKS_FINISHED = Counter(
    "cape_tasks_finished",
    "Tasks that reached a final status, by agent, team and status.",
    ["agent", "team", "status"],
)
STEP_DURATION = Histogram(
    "cape_step_duration_seconds",
    "Wall time of one step attempt, by kind, tool (empty unless a tool step) and outcome.",
    ["kind", "tool", "outcome"],
    buckets=STEP_BUCKETS,
)
LLM_CALLS = Counter(
    "cape_llm_calls",
    "Model calls (one per step attempt), by provider, model and outcome.",
    ["provider", "model", "outcome"],
)
LLM_TOKENS = Counter(
    "cape_llm_tokens",
    "Tokens of successful model calls, by provider, model and direction.",
    ["provider", "model", "direction"],
)
LLM_COST = Counter(
    "cape_llm_cost_usd", "Priced cost of successful model calls in dollars.", ["provider", "model"]
)
LLM_ERRORS = Counter(
    "cape_llm_errors",
    "Failed model calls, by provider, model and error type.",
    ["provider", "model", "type"],
)
LLM_FALLBACKS = Counter(
    "cape_llm_fallbacks",
    "Model turns handed to the next fallback, by the model that failed.",
    ["provider", "model"],
)
SANDBOX_RUNS = Counter(
    "cape_sandbox_runs", "Sandboxed command runs, by isolation level.", ["level"]
)
SANDBOX_KILLS = Counter(
    "cape_sandbox_kills", "Sandboxed runs the sandbox stopped, by reason.", ["reason"]
)
STREAM_CLIENTS = Gauge(
    "cape_stream_clients", "Event stream clients connected now, by transport.", ["transport"]
)
HTTP_REQUESTS = Counter(
    "cape_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "cape_http_request_duration_seconds",
    "Time to the end of the response (streams: their whole life), by method and route template.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)


def team_of(team_id: str | None) -> str:
    """The `team` label of a task: its team's id (teams are few; "unknown" if it has none)."""
    return team_id or "unknown"


# Read from the database when the API is scraped (cape/telemetry/waiting.py).
TASKS_WAITING = Gauge(
    "cape_tasks_waiting",
    "Tasks waiting for an answer (input_required), by agent, team and question kind.",
    ["agent", "team", "kind"],
)
TASKS_WAITING_OLDEST = Gauge(
    "cape_tasks_waiting_oldest_seconds",
    "Age of the oldest unanswered question, by kind (approval, budget); 0 when none waits.",
    ["kind"],
)
