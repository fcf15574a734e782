#!/usr/bin/env bash
# CPU time per task of each process of a one-agent grid on Redis (unix
# socket): control plane, agent, official SDK worker, redis-server and the
# client (bench_throughput's phases), from /proc/<pid>/stat over N tasks.
# The load-independent view of where a task's cost goes (RESULTS.md).
#
#   bash bench/cpu_per_task.sh [N=3000]
set -euo pipefail
N=${1:-3000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d /tmp/pyak-cpu-XXXX)
mkdir -p "$DIR/data" "$DIR/sockets"
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --unixsocket "$DIR/redis.sock" --port 0 --save '' --appendonly no --daemonize yes --pidfile "$DIR/redis.pid"
sleep 0.5
export PYARMONIK_REDIS_URL="unix://$DIR/redis.sock" PYARMONIK_LOG_LEVEL=WARNING
export ComputePlane__AgentChannel__Address="$DIR/sockets/agent.sock" ComputePlane__WorkerChannel__Address="$DIR/sockets/worker.sock"
python -m pyarmonik control-plane --port "$PORT" --data-dir "$DIR/data" > "$DIR/cp.log" 2>&1 & CP=$!
# The agent needs its partition, which the control plane declares as it starts.
python -c "import socket, sys, time
for _ in range(300):
    try: socket.create_connection(('127.0.0.1', $PORT), 1).close(); sys.exit(0)
    except OSError: time.sleep(0.1)
sys.exit('control plane not listening: see $DIR/cp.log')"
python -m pyarmonik agent --agent-id cpu-0 --shared-dir "$DIR/sockets" --data-dir "$DIR/data" > "$DIR/agent.log" 2>&1 & AG=$!
python "$ROOT/bench/worker.py" --duration-ms 0 --result-bytes 8 > "$DIR/worker.log" 2>&1 & WK=$!
RP=$(cat "$DIR/redis.pid")
trap 'kill -TERM $AG $WK $CP $RP 2>/dev/null || true' EXIT
sleep 6
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A before
for p in $CP $AG $WK $RP; do before[$p]=$(cpu "$p"); done
START=$(date +%s.%N)
python - "$PORT" "$N" "$ROOT" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[3])
import grpc
import bench.bench_throughput as throughput
with grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}") as channel:
    throughput.run(channel, int(sys.argv[2]))
times = os.times()
print(f"client: {(times.user + times.system) * 1000 / int(sys.argv[2]):.2f} ms/task (with its start)")
PY
TICK=$(getconf CLK_TCK)
for pair in "control-plane:$CP" "agent:$AG" "worker:$WK" "redis-server:$RP"; do
  name=${pair%%:*}; p=${pair##*:}
  python -c "print(f'$name: {($(cpu "$p") - ${before[$p]}) / $TICK * 1000 / $N:.2f} ms/task')"
done
