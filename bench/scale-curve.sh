#!/usr/bin/env bash
# The scale curve of BENCHMARKS.md: one model filled to 10, 10k, 100k and
# 1M versions (the bulk `seed` path), and at each size the scenarios whose
# cost must stay flat, each measured for DURATION by model-registry-bench.
# Prints one Markdown table row per (size, scenario).
#
#   bench/scale-curve.sh sqlite              # a fresh SQLite file under $WORK
#   bench/scale-curve.sh postgres URL        # an empty PostgreSQL database
#
# Needs release binaries: cargo build --release -p model-registry-server -p model-registry-bench
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:?sqlite or postgres}
work=${WORK:-$(mktemp -d)}
duration=${DURATION:-5s}
sizes=${SIZES:-"10 10000 100000 1000000"}
scenarios=${SCENARIOS:-"get-production list best set-alias rollback"}
server=target/release/model-registry-server
bench=target/release/model-registry-bench
case $backend in
  sqlite) url="sqlite://$work/scale.db" ;;
  postgres) url=${2:?a PostgreSQL URL} ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac
port=${PORT:-50097}
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true' EXIT

echo "| versions | scenario | req/s | p50 ms | p99 ms | server RSS MiB (peak) |"
echo "|---:|---|---:|---:|---:|---:|"
for size in $sizes; do
  "$server" --database-url "$url" seed --model scale --versions "$size" >&2
  RUST_LOG=warn "$server" --database-url "$url" --listen "127.0.0.1:$port" >&2 &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  for scenario in $scenarios; do
    "$bench" --url "http://127.0.0.1:$port" --scenario "$scenario" --model scale \
      --seed-versions "$size" --duration "$duration" --server-pid "$pid" -o json |
      python3 -c '
import json, sys
size, r = int(sys.argv[1]), json.load(sys.stdin)
main = "RollbackModelAlias" if r["scenario"] == "rollback" else r["results"][0]["operation"]
row = next(x for x in r["results"] if x["operation"] == main)
errors = sum(row["errors"].values())
peak = (r["server_rss_bytes"]["peak"] or 0) >> 20
rate, p50, p99 = row["requests_per_second"], row["p50_ms"], row["p99_ms"]
cells = [f"{size:,}", r["scenario"], f"{rate:,.0f}", f"{p50:.2f}", f"{p99:.2f}", str(peak)]
print("| " + " | ".join(cells) + " |" + (f" errors: {errors}" if errors else ""))
' "$size"
  done
  kill "$pid"; wait "$pid" || true; pid=
done
