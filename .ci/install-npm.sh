#!/usr/bin/env bash
# npm is needed once, to fetch the pinned front-end packages the pages serve (htmx).
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq npm >/dev/null
