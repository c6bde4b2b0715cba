#!/usr/bin/env bash
# One run that measures the ceilings of ingestd's parts and ingestd end to end, side by side, and
# prints each end-to-end figure as a ratio of the ceiling it runs into, with the targets met or
# missed. Ratios are only meaningful within one run: the machine's load moves every number.
#
#   scripts/bench.sh [--quick] [--out FILE.json]
#
#   --quick     the seed-000 purchase backlog is 100,000 events instead of 200,000 (under 2 min)
#   --out FILE  also writes the table as JSON (rows, the raw Google Benchmark output, load)
#
# Builds the Release tree build-bench/ (BUILD_DIR overrides) if it is missing or stale, then runs:
#   jetstream_source_bench  raw JetStream publish (async, acks awaited) and pull-consume + ack
#   kafka_bench             Kafka mock produce, raw consume (as configured, and with a 64 MB local
#                           queue), and Kafka (mock) -> pipeline -> SQLite
#   sqlite_insert_bench     batched prepared INSERTs of an events-like row, WAL, synchronous=FULL
#   ingestd_nats_bench      the real ingestd binary: seed 000's customer-dialect purchases backlog,
#                           the mixed CloudEvents backlog, and latency at a steady 10,000 events/s
# Needs bash, cmake and jq (no python).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
quick=0
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --out)
      [[ $# -ge 2 ]] || { echo "bench.sh: --out needs a file" >&2; exit 2; }
      out=$2
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) echo "bench.sh: unknown argument '$1' (expected --quick, --out FILE)" >&2; exit 2 ;;
  esac
  shift
done
command -v jq > /dev/null || { echo "bench.sh: jq is required" >&2; exit 2; }

targets=(ingestd ingestd_nats_bench jetstream_source_bench kafka_bench sqlite_insert_bench)
if [[ ! -f $build/CMakeCache.txt ]]; then
  launcher=()
  if command -v ccache > /dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" > /dev/null
fi
echo "building ${targets[*]} in $build" >&2
nice -n 19 cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" > "$build/bench-build.log" ||
  { tail -30 "$build/bench-build.log" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
purchases=200000
command_line="scripts/bench.sh"
if [[ $quick == 1 ]]; then
  purchases=100000
  command_line+=" --quick"
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)

# run NAME BINARY [ARGS...]: Google Benchmark JSON to $work/NAME.json, its console to NAME.log.
run() {
  local name=$1 bin=$2
  shift 2
  echo "running $name ($(($(date +%s) - started)) s in)" >&2
  if ! "$build/tests/$bin" --benchmark_out="$work/$name.json" --benchmark_out_format=json "$@" \
    > "$work/$name.log" 2>&1; then
    echo "bench.sh: $bin failed:" >&2
    tail -20 "$work/$name.log" >&2
  fi
  [[ -s $work/$name.json ]] || echo '{"benchmarks":[]}' > "$work/$name.json"
}

run jetstream jetstream_source_bench
run sqlite sqlite_insert_bench
run kafka kafka_bench
# ingestd's consumer keeps at most 16 MB in librdkafka's local queue; librdkafka 2.0 then backs off
# fetching for a whole second, which caps a consumer that reads faster than that. The same raw
# consume with room for the whole topic is the transport's own ceiling.
KAFKA_BENCH_PROPS=queued.max.messages.kbytes=65536 run kafka_64mb kafka_bench \
  --benchmark_filter=BM_KafkaRawConsume
run ingestd ingestd_nats_bench --benchmark_filter="^BM_IngestdNatsCustomerPurchases/events:$purchases/msg_id:0/|^BM_IngestdNatsEndToEnd/events:100000/sync_full:1/|^BM_IngestdNatsLatency/rate:10000/sync_full:1/"

elapsed=$(($(date +%s) - started))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(jq -n \
  --slurpfile js "$work/jetstream.json" --slurpfile sq "$work/sqlite.json" \
  --slurpfile ka "$work/kafka.json" --slurpfile ing "$work/ingestd.json" \
  --slurpfile ka64 "$work/kafka_64mb.json" \
  --arg cmd "$command_line" \
  --arg load_before "$load_before" --arg load_after "$load_after" \
  --argjson elapsed "$elapsed" --argjson purchases "$purchases" --argjson nproc "$(nproc)" '
  def bm($doc; $prefix):
    [$doc[0].benchmarks[] | select(.name | startswith($prefix))
     | select((.error_occurred // false) | not)] | first // null;
  def rate($b): if $b == null then null else $b.items_per_second end;
  def ratio($a; $b): if $a == null or $b == null or $b == 0 then null
                     else ($a / $b * 100 | round / 100) end;

  (rate(bm($js; "BM_JetStreamPublish"))) as $js_pub
  | (rate(bm($js; "BM_JetStreamFetchAck"))) as $js_con
  | (rate(bm($ka; "BM_KafkaMockProduce"))) as $k_prod
  | (rate(bm($ka; "BM_KafkaRawConsume"))) as $k_con
  | (rate(bm($ka64; "BM_KafkaRawConsume"))) as $k_con64
  | (rate(bm($ka; "BM_KafkaToSqlite"))) as $k_sql
  | (rate(bm($sq; "BM_SqliteBatchedInsert/batch:4000/bg_checkpoint:1/"))) as $sql
  | (rate(bm($sq; "BM_SqliteBatchedInsert/batch:4000/bg_checkpoint:0/"))) as $sql_inline
  | bm($ing; "BM_IngestdNatsCustomerPurchases") as $pur_b
  | bm($ing; "BM_IngestdNatsEndToEnd") as $mix_b
  | bm($ing; "BM_IngestdNatsLatency") as $lat_b
  | rate($pur_b) as $pur
  | rate($mix_b) as $mix
  | ([$pur_b, $mix_b, $lat_b] | map(select(. != null) | .peak_rss_mb)) as $rss
  | {
      command: $cmd, quick: ($cmd | test("quick")), elapsed_s: $elapsed, nproc: $nproc,
      loadavg_before: $load_before, loadavg_after: $load_after,
      rows: [
        {id: "jetstream_publish", measurement: "raw: JetStream async publish, acks awaited (200k x 200 B)",
         value: $js_pub, unit: "events/s"},
        {id: "jetstream_consume", measurement: "raw: JetStream pull-consume + ack, JetStreamSource (200k x 200 B)",
         value: $js_con, unit: "events/s"},
        {id: "kafka_produce", measurement: "raw: Kafka mock produce, flushed (100k CloudEvents)",
         value: $k_prod, unit: "events/s"},
        {id: "kafka_consume", measurement: "raw: Kafka mock consume + commit, KafkaSource as ingestd configures it (16 MB local queue) (100k)",
         value: $k_con, unit: "events/s"},
        {id: "kafka_consume_64mb", measurement: "raw: the same with a 64 MB local queue (no 1 s fetch backoff)",
         value: $k_con64, unit: "events/s"},
        {id: "sqlite_insert", measurement: "raw: SQLite prepared INSERTs, events-like row, 4,000 per txn (ingestd'"'"'s --max-txn-messages), WAL, synchronous=FULL, checkpoints on a 2nd connection (200k)",
         value: $sql, unit: "events/s"},
        {id: "sqlite_insert_inline_checkpoint", measurement: "raw: the same with SQLite'"'"'s default checkpoints inside COMMIT",
         value: $sql_inline, unit: "events/s"},
        {id: "seed000_purchases",
         measurement: "ingestd: seed-000 customer-dialect purchases backlog, \($purchases / 1000)k over 5,000 customers",
         value: $pur, unit: "events/s",
         ceiling: "raw JetStream consume", ceiling_value: $js_con, ratio: ratio($pur; $js_con),
         ratio_sqlite: ratio($pur; $sql),
         target: ">= 50,000/s and >= 0.5 of raw JetStream consume",
         met: (if $pur == null or $js_con == null then null
               else ($pur >= 50000 and $pur / $js_con >= 0.5) end)},
        {id: "mixed_cloudevents", measurement: "ingestd: mixed backlog, 100k (focus.ping + CloudEvents purchases)",
         value: $mix, unit: "events/s",
         ceiling: "raw JetStream consume", ceiling_value: $js_con, ratio: ratio($mix; $js_con),
         ratio_sqlite: ratio($mix; $sql),
         target: ">= 80,000/s", met: (if $mix == null then null else $mix >= 80000 end)},
        {id: "kafka_to_sqlite", measurement: "Kafka (mock) -> KafkaSource -> pipeline -> SQLite, 100k",
         value: $k_sql, unit: "events/s",
         ceiling: "raw Kafka consume, 64 MB queue", ceiling_value: $k_con64, ratio: ratio($k_sql; $k_con64),
         ratio_sqlite: ratio($k_sql; $sql),
         target: ">= 50,000/s", met: (if $k_sql == null then null else $k_sql >= 50000 end)},
        {id: "latency_10k", measurement: "ingestd: committed_at - event_time at a steady 10,000 events/s (3 s)",
         p50_ms: (if $lat_b == null then null else $lat_b.p50_ms end),
         p99_ms: (if $lat_b == null then null else $lat_b.p99_ms end), unit: "ms",
         target: "p50 <= 5 ms, p99 <= 25 ms",
         met: (if $lat_b == null then null else ($lat_b.p50_ms <= 5 and $lat_b.p99_ms <= 25) end)},
        {id: "ingestd_peak_rss", measurement: "ingestd peak RSS (VmHWM): purchases / mixed / latency runs",
         values_mb: $rss, value: ($rss | max), unit: "MB",
         target: "<= 200 MB", met: (if ($rss | length) == 0 then null else ($rss | max) <= 200 end)}
      ],
      raw: {jetstream: $js[0], kafka: $ka[0], kafka_64mb: $ka64[0], sqlite: $sq[0], ingestd: $ing[0]}
    }')

[[ -n $out ]] && echo "$report" > "$out"

echo
echo "$report" | jq -r '
  def k: if . == null then "error" else (. / 1000 * 10 | round / 10 | tostring) + "k" end;
  def mb: (. * 10 | round / 10 | tostring);
  def verdict: if . == null then "" elif . then "met" else "**missed**" end;
  "`\(.command)`, \(.elapsed_s) s, \(.nproc) cores, load average \(.loadavg_before) before, \(.loadavg_after) after",
  "",
  "| measurement | result | compared with | ratio | ratio to SQLite inserts | target | |",
  "|---|---|---|---|---|---|---|",
  (.rows[] |
    "| \(.measurement) | " +
    (if .id == "latency_10k" then
       (if .p50_ms == null then "error" else "p50 \(.p50_ms) ms, p99 \(.p99_ms) ms" end)
     elif .id == "ingestd_peak_rss" then
       (.values_mb | map(mb) | join(" / ")) + " MB"
     else (.value | k) + " events/s" end) +
    " | " + (if .ceiling then "\(.ceiling) (\(.ceiling_value | k)/s)" else "" end) +
    " | " + (if .ratio then "\(.ratio)" else "" end) +
    " | " + (if .ratio_sqlite then "\(.ratio_sqlite)" else "" end) +
    " | " + (.target // "") + " | " + (.met | verdict) + " |")'
