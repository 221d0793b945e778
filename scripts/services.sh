#!/usr/bin/env bash
# Start the local PostgreSQL the test suite uses, if it is not already accepting connections.
set -euo pipefail
host=127.0.0.1
if pg_isready -q -h "$host" -p 5432 2>/dev/null; then
  exit 0
fi
echo "PostgreSQL is not running on $host:5432; starting it" >&2
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed: install it (Debian: apt-get install postgresql) and re-run" >&2
  exit 1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 60); do
  if pg_isready -q -h "$host" -p 5432; then
    exit 0
  fi
  sleep 0.5
done
echo "PostgreSQL did not come up on $host:5432; see /var/log/postgresql" >&2
exit 1
