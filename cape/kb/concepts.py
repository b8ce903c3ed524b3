"""The product's concepts in users' words: everyday phrasings mapped to the docs' own terms.

Users ask about "money" and "jobs", the docs say `max_cost` and "task". A question is expanded
with the docs' terms for each everyday phrase it contains; the added terms weigh
EXPANSION_WEIGHT of a term the user typed, so they bring the answering section up without
drowning the user's own words. Phrases are matched on whole words of the lowercased question.
"""

from __future__ import annotations

import re

from cape.kb.text import expand_contractions, tokens

EXPANSION_WEIGHT = 1.0
# The user's everyday word itself, once its concept is added: it mostly matches other senses.
EVERYDAY_WEIGHT = 0.5

# everyday phrases (| separated) -> the docs' terms for the concept
LEXICON: dict[str, str] = {
    # budgets and limits
    "money|spend|spending|spent|dollar|dollars|expensive|pay|paying|paid|bill|billing": (
        "budget max_cost cost usage"
    ),
    "cap|caps|ceiling|ceilings|quota": "limit limits budget",
    "ran out|run out|runs out|used up|exhausted|hits|hit": "budget exceeded limit",
    "turn|turns|iterations|rounds|how many times|called": "max_steps step limit",
    "longer|minutes|hours|duration|too long": "timeout_seconds timeout",
    "price|prices|pricing|per token": "price cost",
    # fork, rerun, retry, pause, cancel
    "branch|branching|clone|copy|copies|try a different|try another": "fork step",
    "redo|again|from scratch|start over|repeat|same prompt": "rerun input",
    "continue|carry on|pick up|halfway|without paying": "retry resume",
    "hold|halt|suspend|freeze|later": "pause resume",
    "kill|abort|stop|terminate": "cancel",
    # specs
    "bot|bots": "agent",
    "definition|define|defines|yaml|manifest": "spec format",
    "instructions|personality|persona|behaviour|behavior|role": "system_prompt prompt",
    "structured|json": "output_schema schema",
    "rejected|refuses|wrong with": "validation errors invalid",
    "llm|ai|gpt|openai|talks to": "model provider",
    "backup model|switch|switches|down|outage": "fallbacks model",
    "abilities|ability|capabilities|plugins|functions|allowed to use": "tools",
    "release|releases|old one|older": "version versions",
    "documents|my own docs|knowledge base|reference material": "knowledge",
    # built-in agents
    "preinstalled|pre installed|out of the box|ready made|stock|bundled|shipped|come with": (
        "built-in builtin"
    ),
    "writes code|write code|coding|programmer|developer": "engineer",
    "qa|testing|tester|test": "qa explorer executor",
    "product itself|about the product|documentation|help": "guide docs",
    # waiting and approvals
    "stuck|hanging|hangs|sitting|idle|frozen|forever|nothing happens|waiting": (
        "waits input_required queued"
    ),
    "block|blocks|blocking|instead of polling|until": "wait",
    "human|person|someone|sign off|say yes|permission|confirm|check with me|ask me": (
        "approval approve input_required"
    ),
    "give up|gives up|giving up|expire|expires": "timed_out input_timeout_seconds expired",
    # idempotency
    "twice|duplicate|duplicates|double|resend|send it again|retries the post": (
        "idempotency-key idempotency"
    ),
    # tasks and what they leave
    "job|jobs|run|runs": "task",
    "states|state|stages": "status statuses",
    "live|watch|follow|progress|streaming": "events stream",
    "files|made|produced|created": "workspace artifacts",
    "download": "artifacts",
    "morning|daily|nightly|weekly|hourly|every day|recurring|periodic|cron": "schedule cron",
    "terminal|command line|shell prompt": "cli cape run",
    "dashboard|browser": "web ui",
    "disconnected|dropped|reconnect|connection|left off": "resume last-event-id sse",
    # settings (README's table)
    "environment variable|env var|env|setting|settings|configure|variable": "configuration",
    "postgres|postgresql|database|db": "database_url",
    "port|listens|listen": "api_port api_host",
    "at the same time|at once|concurrently|in parallel|simultaneously": (
        "max_concurrent_activities concurrent"
    ),
    "biggest|largest|size|too big": "max_body_bytes bytes large",
    "disk|on disk|folder|directory": "data_dir",
    "deleted|cleanup|clean up|kept|keep|retention": "retention_hours retention",
    "searx": "searxng search_backend web_search",
    "mail|mail server|emails": "smtp email",
    "mirror|package index|pypi": "pip_index_url index pip_install",
    "internal network|intranet|lan|localhost": "fetch_allow_private fetch_allow_networks",
    "throttled|throttle|throttling|too many requests": "429 rate limited",
    "unauthorized|not authorized": "401 key",
    "safe|safety|dangerous|secure|harm": "security sandbox threat",
    "machines|servers|capacity|more workers": "scaling workers",
    "back up|back everything up|restore": "backups",
    "login|log in|password|credentials|teammate|colleague": "api key keys create",
    "gone|disagree|out of sync|mismatch|shows running": "reconciler doctor workflow row",
    "installed|set up|setup": "install requirements",
    "crash|crashes|crashed|dies|died": "durability crash worker",
    "too big|got too big|huge|grew": "too large",
    "slower|overhead|slow|speed": "cost overhead",
    "try it|demo|offline|no key|without a key": "scripted demo fake-llm",
}

_PATTERNS = [
    (re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases.split("|")) + r")\b"), terms)
    for phrases, terms in LEXICON.items()
]


def expand(query: str) -> dict[str, float]:
    """The query's terms with their weights: 1 for the user's, EXPANSION_WEIGHT for added ones."""
    user = tokens(query)
    weights = dict.fromkeys(user, 1.0)
    text = " ".join(re.findall(r"[a-z0-9]+", expand_contractions(query)))
    for pattern, terms in _PATTERNS:
        for found in pattern.finditer(text):
            for word in tokens(found.group(0)):
                weights[word] = min(weights.get(word, 1.0), EVERYDAY_WEIGHT)
            for term in tokens(terms):
                weights[term] = max(weights.get(term, 0.0), EXPANSION_WEIGHT)
    return weights
