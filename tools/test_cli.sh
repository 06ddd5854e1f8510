#!/usr/bin/env bash
# End-to-end check of the `shmbus` command line against a real shmbusd on a bus of its own.
#   test_cli.sh PATH/TO/shmbus PATH/TO/shmbusd [PATH/TO/shmbus_perf_peers]
set -euo pipefail
SHMBUS=$1
SHMBUSD=$2
PEERS=${3:-}
BUS="cli-test-$$"
tmp=$(mktemp -d)
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_cli: FAILED: $*" >&2; exit 1; }

# No daemon: a clear message and exit code 1.
set +e
"$SHMBUS" ls --bus "$BUS" 2>"$tmp/err"
code=$?
set -e
[ "$code" -eq 1 ] || fail "ls without a daemon exited $code"
grep -q "no daemon serves bus '$BUS': start shmbusd --bus $BUS" "$tmp/err" || fail "no-daemon message"

"$SHMBUSD" --bus "$BUS" --foreground >"$tmp/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do "$SHMBUS" ls --bus "$BUS" >/dev/null 2>&1 && break; sleep 0.05; done
"$SHMBUS" ls --bus "$BUS" >/dev/null || fail "daemon did not come up"

# One message, read back from history as JSON.
"$SHMBUS" pub --bus "$BUS" cli.one 'say "hi"'
"$SHMBUS" sub --bus "$BUS" cli.one --from earliest --count 1 --timeout 5 --format json >"$tmp/one"
grep -q '"seq":0,' "$tmp/one" || fail "json seq: $(cat "$tmp/one")"
grep -q '"payload":"say \\"hi\\""' "$tmp/one" || fail "json payload: $(cat "$tmp/one")"

# stdin lines, text output.
printf 'a\nb\nc\n' | "$SHMBUS" pub --bus "$BUS" cli.lines -
"$SHMBUS" sub --bus "$BUS" cli.lines --from last:2 --count 2 --timeout 5 >"$tmp/lines"
[ "$(cat "$tmp/lines")" = "$(printf 'b\nc')" ] || fail "last:2 gave $(cat "$tmp/lines")"

# Generated messages to a waiting subscriber: all arrive, stats are printed.
"$SHMBUS" sub --bus "$BUS" cli.gen --count 5000 --timeout 10 --stats --quiet --format json \
  >"$tmp/stats" &
sub=$!
"$SHMBUS" pub --bus "$BUS" cli.gen --wait-subscribers 1 --timeout 10 --count 5000 --size 32 -q
wait "$sub" || fail "sub of generated messages"
grep -q '"received":5000,"lost":0' "$tmp/stats" || fail "stats: $(cat "$tmp/stats")"

# The first 8 bytes of a generated payload are the index, little-endian.
"$SHMBUS" sub --bus "$BUS" cli.gen --from last:1 --count 1 --timeout 5 --format hex >"$tmp/hex"
grep -q '^8713000000000000' "$tmp/hex" || fail "generated index 4999: $(cat "$tmp/hex")"

# ls sees the topics and their totals.
"$SHMBUS" ls --bus "$BUS" --json >"$tmp/ls"
grep -q '"name":"cli.gen","id":[0-9]*,"generation":[0-9]*,"slot_size":[0-9]*,"slot_count":[0-9]*,"policy":"block","published":5000' \
  "$tmp/ls" || fail "ls --json: $(cat "$tmp/ls")"

# Errors: oversize message, shape mismatch, bad name.
if "$SHMBUS" pub --bus "$BUS" cli.gen --count 1 --size 100000 2>"$tmp/err"; then fail "oversize"; fi
grep -q "slot size" "$tmp/err" || fail "oversize message: $(cat "$tmp/err")"
if "$SHMBUS" pub --bus "$BUS" cli.gen --slot-count 2 x 2>/dev/null; then fail "shape mismatch"; fi
set +e
"$SHMBUS" pub --bus "$BUS" 'bad..name' x 2>/dev/null
code=$?
set -e
[ "$code" -eq 2 ] || fail "bad topic name exited $code"

# perf between real processes: every round trip and every streamed message is counted.
"$SHMBUS" perf latency --bus "$BUS" --count 2000 --warmup 100 --json >"$tmp/lat"
grep -q '"mode":"latency".*"samples":2000}' "$tmp/lat" || fail "perf latency: $(cat "$tmp/lat")"
grep -q '"p50_ns":[1-9]' "$tmp/lat" || fail "perf latency p50: $(cat "$tmp/lat")"
"$SHMBUS" perf throughput --bus "$BUS" --count 100000 --json >"$tmp/thr"
grep -q '"mode":"throughput".*"samples":100000}' "$tmp/thr" || fail "perf throughput: $(cat "$tmp/thr")"
grep -q '"msgs_per_s":[1-9]' "$tmp/thr" || fail "perf throughput rate: $(cat "$tmp/thr")"

# A payload sweep with the zero-copy loan: one line per size.
"$SHMBUS" perf latency --bus "$BUS" --sizes 8,4K --loan --count 500 --warmup 10 --json >"$tmp/loan"
[ "$(grep -c '"samples":500,"loan":true' "$tmp/loan")" -eq 2 ] || fail "perf --loan: $(cat "$tmp/loan")"
grep -q '"size":4096' "$tmp/loan" || fail "perf --sizes: $(cat "$tmp/loan")"
# Fan-out: one line per subscriber process and one for the publisher.
"$SHMBUS" perf fanout --bus "$BUS" --subscribers 2 --count 300 --wait block --json >"$tmp/fan"
[ "$(grep -c '"mode":"fanout".*"samples":300,"subscriber":' "$tmp/fan")" -eq 3 ] ||
  fail "perf fanout: $(cat "$tmp/fan")"
grep -q '"subscriber":-1,"subscribers":2' "$tmp/fan" || fail "perf fanout publisher: $(cat "$tmp/fan")"
"$SHMBUS" perf claim --bus "$BUS" --publishers 2 --count 20000 --json >"$tmp/claim"
grep -q '"mode":"claim".*"samples":40000.*"publishers":2' "$tmp/claim" || fail "perf claim: $(cat "$tmp/claim")"

# The peers run through the same harness: a Unix socket and the bare ring, and a case a peer
# cannot run is reported, not failed.
if [ -n "$PEERS" ]; then
  "$PEERS" latency --system uds --wait block --sizes 64 --count 300 --warmup 10 --json >"$tmp/uds"
  grep -q '"system":"uds","mode":"latency","wait":"block","size":64,.*"samples":300' "$tmp/uds" ||
    fail "peers uds: $(cat "$tmp/uds")"
  "$PEERS" throughput --system ring --sizes 64 --count 20000 --json >"$tmp/ring"
  grep -q '"system":"ring","mode":"throughput".*"samples":20000' "$tmp/ring" || fail "peers ring: $(cat "$tmp/ring")"
  "$PEERS" latency --system posix_mq --sizes 1M --json >"$tmp/na"
  grep -q '"na":"above /proc/sys/fs/mqueue/msgsize_max' "$tmp/na" || fail "peers n/a: $(cat "$tmp/na")"
fi

kill -TERM "$daemon"
wait "$daemon" || fail "shmbusd exit status"
daemon=""
[ -z "$(find /dev/shm -maxdepth 1 -name "shmbus.$BUS.*")" ] || fail "segments left behind"
echo "test_cli: ok"
