#!/usr/bin/env bash
# Run the benchmarks (wrk against servers on loopback). QUICK=1 for a short smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)" >&2
  apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
exec .venv/bin/python -m benchmarks.driver
