#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 when the machine has one installed.
# Tests that need it read TSUNAGI_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -u
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for v in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
  done
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
    sleep 0.5
  done
fi
echo "ensure-postgres: no PostgreSQL on 127.0.0.1:5432 (PostgreSQL tests will be skipped unless CI=true)" >&2
exit 0
