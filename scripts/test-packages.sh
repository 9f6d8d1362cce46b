#!/usr/bin/env bash
# Debian packages the test suite runs for real: a Docker registry for the image-mirror tests and Chromium
# for the console's browser tests.
# (PostgreSQL is handled by scripts/test-postgres.sh.) Installs only what is missing.
set -euo pipefail

missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
# Headless browser for the console's browser tests (driven by Playwright with executable_path).
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "error: the tests need Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages for the tests: ${missing[*]}" >&2
apt-get update -qq
# The tests start their own instances on 127.0.0.1; keep the packages' system services from starting.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
