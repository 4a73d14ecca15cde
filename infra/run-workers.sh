#!/usr/bin/env sh
# Runs N Loupe workers on this machine against one web app, restarting any that crash.
#   LOUPE_URL=https://loupe.example.org LOUPE_API_TOKEN=lp_... infra/run-workers.sh 4
# Ctrl-C / SIGTERM stops them all; each finishes or hands back its running job first.
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 N   (number of worker replicas)" >&2
  exit 2
fi
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root/apps/worker"
exec node --import tsx src/supervisor.ts "$1"
