#!/usr/bin/env bash
# What the test suite needs from the system, installed or started when missing (idempotent):
# Chromium for the browser tests, Node.js and npm (to install axe-core for the accessibility test, and to install
# and run the OpenID Connect provider of the single sign-on tests: tools/oidc),
# GNU gettext (msgfmt: the translations' tests, `make messages`),
# and PostgreSQL / Redis when DATABASE_URL / REDIS_URL (or TEST_REDIS_URL) point here.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Chromium (Debian package) for the browser tests..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Node and npm install axe-core (tools/a11y, `npm ci`) for the accessibility browser test, and oidc-provider
# (tools/oidc) which Node runs for the single sign-on tests.
if ! command -v npm >/dev/null 2>&1; then
  echo "Installing Node.js and npm (Debian packages) for axe-core..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

# gettext compiles the translations (locale/*/LC_MESSAGES/django.po): conversations/tests/test_i18n.py checks that
# the committed .mo files are what msgfmt makes of them. `make run` needs none of it (the .mo files are committed).
if ! command -v msgfmt >/dev/null 2>&1 || ! command -v xgettext >/dev/null 2>&1; then
  echo "Installing gettext (Debian package) for the translations..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
fi

if [[ "${DATABASE_URL:-}" == postgres* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "Starting PostgreSQL..."
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

if [[ "${REDIS_URL:-}${TEST_REDIS_URL:-}" == redis* ]] && command -v redis-server >/dev/null 2>&1; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "Starting Redis..."
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
fi
