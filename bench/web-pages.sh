#!/usr/bin/env bash
# How long the web console takes to render each page of a model with many
# versions (BENCHMARKS.md, "Web console"): one model seeded to SIZE versions
# (the bulk `seed` path) with MOVES alias moves, then every page fetched
# ROUNDS times in a row by one client (curl, keep-alive off: what a browser
# opening the page waits for). Prints one Markdown table row per page:
# median and worst time to the last byte, and the page's size.
#
#   bench/web-pages.sh sqlite              # a fresh SQLite file under $WORK
#   bench/web-pages.sh postgres URL        # an empty PostgreSQL database
#
# Needs release binaries: cargo build --release -p model-registry-server -p model-registry-cli
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:?sqlite or postgres}
work=${WORK:-$(mktemp -d)}
size=${SIZE:-10000}
moves=${MOVES:-200}
rounds=${ROUNDS:-30}
server=target/release/model-registry-server
modelreg=target/release/modelreg
case $backend in
  sqlite) url="sqlite://$work/web.db" ;;
  postgres) url=${2:?a PostgreSQL URL} ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac
port=${PORT:-50098}
web=${WEB_PORT:-8098}
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true' EXIT

"$server" --database-url "$url" seed --model scale --versions "$size" >&2
RUST_LOG=warn "$server" --database-url "$url" --listen "127.0.0.1:$port" \
  --web-listen "127.0.0.1:$web" >&2 &
pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$web") 2>/dev/null && break
  sleep 0.1
done
# A history for the alias timeline: canary and production walking forward.
export MODEL_REGISTRY_URL="http://127.0.0.1:$port"
for i in $(seq "$moves"); do
  alias=$([ $((i % 2)) -eq 0 ] && echo production || echo canary)
  "$modelreg" -q alias set scale "$alias" "$((size - moves + i))" --reason "move $i" >/dev/null
done

pages=(
  "/"
  "/models/scale"
  "/models/scale?sort=auc"
  "/models/scale?status=ACTIVE"
  "/models/scale/versions/$((size / 2))"
  "/events?model=scale&type=ALIAS_SET"
)
echo "| page | median ms | worst ms | KiB |"
echo "|---|---:|---:|---:|"
for page in "${pages[@]}"; do
  for _ in $(seq "$rounds"); do
    curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$web$page"
  done | python3 -c '
import statistics, sys
page = sys.argv[1]
rows = [line.split() for line in sys.stdin]
times = sorted(float(t) * 1000 for t, _ in rows)
size = int(rows[-1][1]) / 1024
print(f"| `{page}` | {statistics.median(times):.1f} | {times[-1]:.1f} | {size:.0f} |")
' "$page"
done
