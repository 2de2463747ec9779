#!/usr/bin/env bash
# The agent's own CPU while a release is live: `benches/agent_cpu.sh [MS…]`
# (figures in docs/benchmarks.md). For each probe interval (default 50 and
# 200 ms): a `gantry init --sim` host, good.env taken to live, then the
# agent's user+system time over 10 s read from /proc. Needs a release
# build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
gantry="$PWD/target/release/gantry"
[ -x "$gantry" ] || { echo "build first: cargo build --release" >&2; exit 1; }
ticks=$(getconf CLK_TCK)
for ms in "${@:-50 200}"; do
  for interval in $ms; do
    dir=$(mktemp -d)
    "$gantry" init --sim --name cpu --soak 1 "$dir" >/dev/null
    sed -i "s/^interval_ms = .*/interval_ms = $interval/" "$dir/gantry.toml"
    (cd "$dir" && exec "$gantry" agent --config gantry.toml >agent.log 2>&1) &
    agent=$!
    ctl() { "$gantry" ctl --config "$dir/gantry.toml" "$@"; }
    state() { ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
    sleep 0.5
    ctl submit "$dir/examples/good.env" --reason "cpu bench" >/dev/null
    for _ in $(seq 60); do [ "$(state)" = awaiting_approval ] && break; sleep 0.5; done
    ctl approve --reason "cpu bench" >/dev/null
    sleep 3
    before=$(awk '{print $14 + $15}' "/proc/$agent/stat")
    sleep 10
    after=$(awk '{print $14 + $15}' "/proc/$agent/stat")
    echo "probe every $interval ms, live ($(state)): agent CPU $(( (after - before) * 1000 / ticks )) ms per 10 s"
    service=$(cut -d' ' -f1 "$dir/service.pid")
    kill "$agent"; wait "$agent" 2>/dev/null || true
    kill "$service" 2>/dev/null || true
    rm -rf "$dir"
  done
done
