#!/usr/bin/env bash
# CPU time per task of each process of a one-agent grid on Redis (control
# plane, agent, official SDK worker, redis-server, client) and Redis' time
# per script: a short form of `python -m bench.cost` (its top 5 scripts and
# commands), kept for the hooks and habits that call it. PYTHON names the
# interpreter (default: python, the active virtual environment's).
#
#   bash bench/cpu_per_task.sh [N=3000] [more bench.cost flags]
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m bench.cost --tasks "${1:-3000}" --top 5 "${@:2}"
