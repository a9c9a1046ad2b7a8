#!/usr/bin/env bash
# bench/fanout-with-reads.sh BUILD_DIR LABEL: 1,000 alias watchers
# (WATCHERS) on one server over PostgreSQL at 127.0.0.1:5432, moves one
# after another for 20 s (FANOUT_FOR, at most MOVES), each heard by every
# watcher before the next, while one deployer reads get-production
# sequentially on its own connections for 25 s (READS_FOR). BUILD_DIR holds
# model-registry-server (and model-registry-bench unless BENCH names one).
# Prints both results as JSON; makes and drops its own database.
set -uo pipefail
dir=$1; label=$2
BENCH=${BENCH:-$dir/model-registry-bench}
db="fanout_$(date +%s%N)"
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "CREATE DATABASE $db"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && RUST_LOG=warn exec "$dir/model-registry-server" --listen 127.0.0.1:$port \
   --database-url postgres://postgres@127.0.0.1:5432/$db > server.log 2>&1) &
server=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port
"$BENCH" --url $url --scenario get-production --model fanout --seed-versions 10 --duration 2s -o json > /dev/null
"$BENCH" --url $url --scenario get-production --model fanout --sequential --duration ${READS_FOR:-25s} -o json > "$work/reads.json" &
reads=$!
"$BENCH" --url $url --scenario watch-fanout --model fanout --watchers ${WATCHERS:-1000} --duration ${FANOUT_FOR:-20s} --requests ${MOVES:-1000000} -o json > "$work/fanout.json"
wait $reads
kill $server; wait $server || true
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE $db WITH (FORCE)"
python3 - "$work" "$label" <<'PY'
import json, sys, pathlib
work, label = pathlib.Path(sys.argv[1]), sys.argv[2]
def summary(path):
    data = json.loads(path.read_text())
    return json.dumps(data)[:600]
print(label, "FANOUT", summary(work / "fanout.json"))
print(label, "READS", summary(work / "reads.json"))
PY
