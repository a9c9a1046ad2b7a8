#!/usr/bin/env bash
# The deployer's read against its no-op ceiling, for release builds in
# alternating rounds (A, B, A, B …) on fresh databases: get-production at
# 64 callers and one sequential caller (10 ms pause), each with --baseline
# (an in-process no-op server answering the same response in the same run).
# Prints one line per measurement:
#   round build backend shape req/s p50_ms p99_ms noop_req/s noop_p50_ms ratio
#
#   bench/reads-vs-ceiling.sh DIR_A DIR_B [ROUNDS]
#
# DIR_A and DIR_B each hold a `model-registry-server` and a
# `model-registry-bench`. BACKENDS selects "sqlite postgres" (default: both);
# PostgreSQL from MODEL_REGISTRY_BENCH_POSTGRES (default
# postgres://postgres@127.0.0.1:5432).
set -euo pipefail

a=$1
b=$2
rounds=${3:-3}
postgres=${MODEL_REGISTRY_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
backends=${BACKENDS:-sqlite postgres}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

psql_admin() {
  PGOPTIONS="-c client_min_messages=warning" psql "$postgres/postgres" -qAtc "$1" >/dev/null
}

measure() { # label dir url arguments…
  local label=$1 dir=$2 url=$3
  shift 3
  "$dir/model-registry-bench" --url "$url" --model bench --seed-versions 200 \
    --scenario get-production --baseline "$@" -o json |
    python3 -c '
import json, sys
report = json.load(sys.stdin)
row, noop = report["results"][0], report["baseline"][0]
ratio = row["requests_per_second"] / noop["requests_per_second"]
print(sys.argv[1], round(row["requests_per_second"]), round(row["p50_ms"], 3), round(row["p99_ms"], 3),
      round(noop["requests_per_second"]), round(noop["p50_ms"], 3), round(ratio, 2))
' "$label"
}

run_one() { # round build dir backend
  local round=$1 build=$2 dir=$3 backend=$4 url name port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  case $backend in
    sqlite) url="sqlite://$work/$build-$round.db" ;;
    postgres)
      name="mr_reads_${build,,}_${round}_$$"
      psql_admin "DROP DATABASE IF EXISTS $name"
      psql_admin "CREATE DATABASE $name"
      url="$postgres/$name"
      ;;
  esac
  RUST_LOG=warn "$dir/model-registry-server" --database-url "$url" --listen "127.0.0.1:$port" \
    >"$work/server.log" 2>&1 &
  local server=$!
  for _ in $(seq 100); do
    if "$dir/model-registry-server" probe --address "127.0.0.1:$port" --timeout 1s >/dev/null 2>&1; then
      break
    fi
    sleep 0.1
  done
  measure "$round $build $backend 64-callers" "$dir" "http://127.0.0.1:$port" --concurrency 64
  measure "$round $build $backend sequential" "$dir" "http://127.0.0.1:$port" --sequential --duration 5s
  kill "$server" 2>/dev/null || { echo "the $build server had stopped:" >&2; cat "$work/server.log" >&2; }
  wait "$server" || true
  rm -f "$work/$build-$round.db"*
  if [ "$backend" = postgres ]; then psql_admin "DROP DATABASE IF EXISTS $name WITH (FORCE)"; fi
}

for backend in $backends; do
  for round in $(seq "$rounds"); do
    run_one "$round" A "$a" "$backend"
    run_one "$round" B "$b" "$backend"
  done
done
