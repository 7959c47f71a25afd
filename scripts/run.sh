#!/usr/bin/env bash
# `make run`: migrate, create the demo admin and data, start every process of the product.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=app
# The demo integrations talk to the local emulators started below.
export DOTDIGITAL_API_BASE="${DOTDIGITAL_API_BASE:-http://127.0.0.1:5101}"
export MAILCHIMP_API_BASE="${MAILCHIMP_API_BASE:-http://127.0.0.1:5102}"
PORT="${PORT:-5000}"
export PORT
.venv/bin/flask --app app db upgrade
.venv/bin/flask --app app demo setup --url "http://127.0.0.1:${PORT}"
if [ -n "${REDIS_URL:-}" ]; then
  echo "Mode: RQ workers and the CronScheduler on ${REDIS_URL}"
  exec .venv/bin/honcho start -f Procfile
else
  echo "Mode: embedded (no REDIS_URL): jobs run in-process; the cron table runs in-process too."
  echo "      Set REDIS_URL=redis://127.0.0.1:6379/0 to run real workers."
  exec .venv/bin/honcho start -f Procfile.embedded
fi
