#!/usr/bin/env bash
# Compares two release builds of the server on the benchmark scenarios, in
# alternating rounds (A, B, A, B …) so drift of the machine hits both alike.
# Each run gets a fresh database. Prints one line per run:
#   round build backend scenario req/s p50_ms p99_ms
#
#   bench/compare-builds.sh DIR_A DIR_B [ROUNDS] [DURATION]
#
# DIR_A and DIR_B each hold a `model-registry-server` and a
# `model-registry-bench` (copies of target/release from two commits).
# PostgreSQL runs come from MODEL_REGISTRY_BENCH_POSTGRES (default
# postgres://postgres@127.0.0.1:5432); BACKENDS selects "sqlite postgres",
# SCENARIOS the scenarios by name (default: all below).
set -euo pipefail

a=$1
b=$2
rounds=${3:-3}
duration=${4:-5s}
postgres=${MODEL_REGISTRY_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
backends=${BACKENDS:-sqlite postgres}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# scenario name, then the bench's arguments for it
scenarios=(
  "get-production --scenario get-production --concurrency 64 --model bench --seed-versions 200"
  "register --scenario register --concurrency 16"
  "register-16-models --scenario register --concurrency 16 --models 16"
  "set-alias --scenario set-alias --concurrency 16 --model bench --seed-versions 200"
  "list --scenario list --concurrency 16 --model bench --seed-versions 200"
  "best --scenario best --concurrency 16 --model bench --seed-versions 200"
  "rollback --scenario rollback --concurrency 16 --model bench --seed-versions 200"
)
selected=${SCENARIOS:-}

psql_admin() {
  PGOPTIONS="-c client_min_messages=warning" psql "$postgres/postgres" -qAtc "$1" >/dev/null
}

run_one() { # round build dir backend
  local round=$1 build=$2 dir=$3 backend=$4 url name port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  case $backend in
    sqlite) url="sqlite://$work/$build-$round.db" ;;
    postgres)
      name="mr_compare_${build,,}_${round}_$$"
      psql_admin "DROP DATABASE IF EXISTS $name"
      psql_admin "CREATE DATABASE $name"
      url="$postgres/$name"
      ;;
  esac
  RUST_LOG=warn "$dir/model-registry-server" --database-url "$url" --listen "127.0.0.1:$port" \
    >"$work/server.log" 2>&1 &
  local server=$!
  local ready=no
  for _ in $(seq 100); do
    if "$dir/model-registry-server" probe --address "127.0.0.1:$port" --timeout 1s >/dev/null 2>&1; then
      ready=yes
      break
    fi
    sleep 0.1
  done
  if [ "$ready" = no ]; then
    echo "the $build server did not become ready:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  for entry in "${scenarios[@]}"; do
    read -r scenario arguments <<<"$entry"
    if [ -n "$selected" ] && [[ " $selected " != *" $scenario "* ]]; then continue; fi
    # shellcheck disable=SC2086
    "$dir/model-registry-bench" --url "http://127.0.0.1:$port" --duration "$duration" $arguments -o json \
      | python3 -c '
import json, sys
row = json.load(sys.stdin)["results"][0]
print(sys.argv[1], round(row["requests_per_second"]), round(row["p50_ms"], 3), round(row["p99_ms"], 3))
' "$round $build $backend $scenario"
  done
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
