#!/usr/bin/env bash
# Make sure what the test suite talks to is there: PostgreSQL and NATS JetStream on their
# standard local ports (started if down), and Debian's Chromium for page captures (installed
# if missing and apt is available). Tests that need a peer which still is not there skip and
# say why.
set -uo pipefail
host=127.0.0.1

port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# -- PostgreSQL ---------------------------------------------------------------------------
if ! pg_isready -q -h "$host" -p 5432 2>/dev/null; then
  echo "PostgreSQL is not running on $host:5432; starting it" >&2
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "PostgreSQL is not installed: install it (Debian: apt-get install postgresql) and re-run" >&2
    exit 1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    pg_isready -q -h "$host" -p 5432 && break
    sleep 0.5
  done
  pg_isready -q -h "$host" -p 5432 || { echo "PostgreSQL did not come up; see /var/log/postgresql" >&2; exit 1; }
fi

# -- NATS JetStream (the alert broker path) -------------------------------------------------
if ! port_open 4222 && command -v nats-server >/dev/null 2>&1; then
  echo "NATS is not running on $host:4222; starting it with JetStream" >&2
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a "$host" -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  for _ in $(seq 1 40); do port_open 4222 && break; sleep 0.25; done
fi

# -- Chromium (screenshots of captured pages) -------------------------------------------------
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for page captures" >&2
  apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
    || echo "could not install chromium: capture tests will skip their screenshots" >&2
fi

# -- Network-namespace censorship lab (tests/integration/test_censorship_lab.py) -------------
# ip netns and tc (iproute2), iptables and nft; installed if missing and apt is available.
# Without them (or without root) the lab tests skip and say why.
lab_missing=""
command -v ip >/dev/null 2>&1 || lab_missing="$lab_missing iproute2"
command -v iptables >/dev/null 2>&1 || lab_missing="$lab_missing iptables"
command -v nft >/dev/null 2>&1 || lab_missing="$lab_missing nftables"
if [ -n "$lab_missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing$lab_missing for the censorship lab tests" >&2
  # shellcheck disable=SC2086  # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $lab_missing >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $lab_missing >/dev/null 2>&1; } \
    || echo "could not install$lab_missing: the censorship lab tests will skip" >&2
fi
exit 0
