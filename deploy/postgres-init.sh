#!/usr/bin/env bash
# Creates CapeControl's application database on the shared PostgreSQL server.
#
# The official postgres image runs every script in /docker-entrypoint-initdb.d exactly once, when
# the data volume is empty. At that point the superuser ($POSTGRES_USER, "temporal" in
# docker-compose.yml) and its database already exist; Temporal's auto-setup creates `temporal`
# (already there: same name as the user) and `temporal_visibility` itself on first start.
#
# Here we add a separate, unprivileged login role `cape` that owns the database `cape`, so the api
# and worker processes never hold the superuser password. Its password comes from
# CAPE_DB_PASSWORD (passed to the postgresql container by docker-compose.yml).
#
# Changing CAPE_DB_PASSWORD later does NOT re-run this script: change it in the database too
#   docker compose exec postgresql psql -U temporal -c "ALTER ROLE cape PASSWORD '...'"
set -euo pipefail

: "${CAPE_DB_PASSWORD:?CAPE_DB_PASSWORD must be set for the postgresql service}"
: "${CAPE_DB_NAME:=cape}"
: "${CAPE_DB_USER:=cape}"

# psql variables (-v) are quoted by psql itself (:'var' = literal, :"var" = identifier), so a
# password with quotes cannot break the statement. The script is read from stdin because psql
# does not interpolate variables in -c commands.
psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v cape_user="$CAPE_DB_USER" -v cape_db="$CAPE_DB_NAME" -v cape_password="$CAPE_DB_PASSWORD" \
    <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'cape_user', :'cape_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'cape_user') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'cape_db', :'cape_user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'cape_db') \gexec
REVOKE ALL ON DATABASE :"cape_db" FROM PUBLIC;
GRANT ALL ON DATABASE :"cape_db" TO :"cape_user";
SQL

echo "postgres-init: database \"$CAPE_DB_NAME\" owned by role \"$CAPE_DB_USER\" is ready"
