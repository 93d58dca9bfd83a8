#!/usr/bin/env bash
# Make sure the services the test suite talks to are installed and running:
# PostgreSQL on 127.0.0.1:5432 with trust auth for local TCP connections.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "services: installing PostgreSQL"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

if ! psql -w -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian install asks for passwords on TCP; the tests connect without one.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  echo "services: enabling trust auth for 127.0.0.1 in $hba"
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
fi
psql -w -h 127.0.0.1 -U postgres -d postgres -Atc 'select version()' | head -c 60; echo

# Browser tests drive Debian's chromium through playwright (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  echo "services: installing chromium"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
fi
