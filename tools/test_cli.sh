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

# Properties and a wildcard subscription: topics created after it are attached, others are not.
# --from earliest makes the result independent of whether a topic came before the subscription.
"$SHMBUS" sub --bus "$BUS" 'cli.w.#' --from earliest --format json --count 2 --timeout 10 \
  >"$tmp/wild" &
wsub=$!
"$SHMBUS" pub --bus "$BUS" cli.w.a --prop region=eu --prop tier=1 --key K7 --content-type text/plain alpha
"$SHMBUS" pub --bus "$BUS" cli.other skip
"$SHMBUS" pub --bus "$BUS" cli.w.b.c beta
wait "$wsub" || fail "wildcard sub"
grep -q '^{"topic":"cli.w.a",.*"payload":"alpha","properties":{"region":"eu","tier":"1","key":"K7","content-type":"text/plain"},"content_type":"text/plain","key":"K7"}$' \
  "$tmp/wild" || fail "wildcard json with properties: $(cat "$tmp/wild")"
grep -q '^{"topic":"cli.w.b.c",.*"payload":"beta","properties":{}}$' "$tmp/wild" \
  || fail "wildcard json: $(cat "$tmp/wild")"
if grep -q skip "$tmp/wild"; then fail "non-matching topic received"; fi

# Filters: all (the default) and any; text lines of a wildcard subscription start with the topic.
for i in 1 2 3 4; do "$SHMBUS" pub --bus "$BUS" cli.f --prop "n=$i" --prop "parity=$((i % 2))" "m$i"; done
"$SHMBUS" sub --bus "$BUS" cli.f --from earliest --filter parity=0 --count 2 --timeout 5 >"$tmp/f"
[ "$(cat "$tmp/f")" = "$(printf 'm2\nm4')" ] || fail "--filter gave $(cat "$tmp/f")"
"$SHMBUS" sub --bus "$BUS" cli.f --from earliest --filter n=1 --filter n=4 --filter-any --count 2 \
  --timeout 5 >"$tmp/f"
[ "$(cat "$tmp/f")" = "$(printf 'm1\nm4')" ] || fail "--filter-any gave $(cat "$tmp/f")"
"$SHMBUS" sub --bus "$BUS" 'cli.*' --from earliest --filter n=3 --count 1 --timeout 5 >"$tmp/f"
[ "$(cat "$tmp/f")" = "$(printf 'cli.f\tm3')" ] || fail "wildcard text gave $(cat "$tmp/f")"

# Bad patterns and properties: exit 2 with the reason; properties that do not fit: exit 1.
set +e
"$SHMBUS" sub --bus "$BUS" 'cli.w*' --timeout 1 2>"$tmp/err"
code=$?
set -e
[ "$code" -eq 2 ] || fail "bad pattern exited $code"
grep -q "must stand alone" "$tmp/err" || fail "bad pattern message: $(cat "$tmp/err")"
set +e
"$SHMBUS" pub --bus "$BUS" cli.f --prop 'a b=1' x 2>"$tmp/err"
code=$?
set -e
[ "$code" -eq 2 ] || fail "bad property key exited $code"
grep -q "property key 'a b'" "$tmp/err" || fail "bad property message: $(cat "$tmp/err")"
if "$SHMBUS" pub --bus "$BUS" cli.tiny --slot-size 64 --prop "big=$(printf '%060d' 0)" x \
  2>"$tmp/err"; then fail "oversize properties"; fi
grep -q "exceed topic cli.tiny's slot size of 64" "$tmp/err" || fail "oversize: $(cat "$tmp/err")"

# Groups: a declared group keeps work published before any member; two members share it, each
# message printed (and acked) by exactly one; ls shows the group's counters.
"$SHMBUS" group declare --bus "$BUS" cli.jobs workers --max-deliveries 3 | grep -q "is declared" \
  || fail "group declare"
for i in 1 2 3 4 5 6; do "$SHMBUS" pub --bus "$BUS" cli.jobs "job-$i"; done
"$SHMBUS" sub --bus "$BUS" cli.jobs --group workers --count 3 --format json >"$tmp/g1"
"$SHMBUS" sub --bus "$BUS" cli.jobs --group workers --count 3 >"$tmp/g2"
[ "$(grep -c '"deliveries":1' "$tmp/g1")" -eq 3 ] || fail "group json: $(cat "$tmp/g1")"
grep -q '"redelivered":false' "$tmp/g1" || fail "group json redelivered: $(cat "$tmp/g1")"
[ "$( (grep -o 'job-[0-9]' "$tmp/g1"; cat "$tmp/g2") | sort | tr '\n' ' ')" = \
  "job-1 job-2 job-3 job-4 job-5 job-6 " ] || fail "group split: $(cat "$tmp/g1" "$tmp/g2")"
"$SHMBUS" ls --bus "$BUS" --json >"$tmp/ls"
grep -q '"name":"workers","declared":true.*"depth":0,"in_flight":0,"acked":6' "$tmp/ls" \
  || fail "ls group: $(cat "$tmp/ls")"
"$SHMBUS" ls --bus "$BUS" | grep -q "group workers (declared): members 0  depth 0" \
  || fail "ls group text"
if "$SHMBUS" sub --bus "$BUS" cli.jobs --group 'bad name' --timeout 1 2>"$tmp/err"; then
  fail "bad group name accepted"
fi
grep -q "group name 'bad name'" "$tmp/err" || fail "bad group message: $(cat "$tmp/err")"

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
