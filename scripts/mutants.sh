#!/usr/bin/env bash
# The mutation matrix (docs/mutants.md): runs build/tests/ingestd_mutant with each planted defect
# (INGESTD_MUTANT=<name>) against the CI suite scenarios listed for it in
# tests/mutants/mutants.tsv, in order, until one fails it, and prints per mutant whether it was
# killed, by which scenario and failed assertions, and in how long.
# Usage: scripts/mutants.sh [--fast] [--out DIR] [MUTANT...]
#   --fast     only the mutants marked fast in mutants.tsv (the CI job)
#   --out DIR  where run directories go [runs/mutants]; DIR/<mutant>/ is replaced
#   MUTANT     only these (default: every mutant in mutants.tsv)
# Assumes scripts/setup.sh has configured build/; builds ingestd_mutant and ingestlab if needed.
# Writes the table also to DIR/matrix.md. Exit: 0 every mutant killed, 1 some survived (or a run
# could not be carried out), 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

fast=0
out=runs/mutants
selected=()
while (($#)); do
  case "$1" in
    --fast) fast=1 ;;
    --out)
      [[ $# -ge 2 ]] || { echo "mutants: --out needs a directory" >&2; exit 2; }
      out=$2
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "mutants: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) selected+=("$1") ;;
  esac
  shift
done

table=tests/mutants/mutants.tsv
mutant_bin=build/tests/ingestd_mutant
ingestlab=build/harness/ingestlab
command -v jq >/dev/null || { echo "mutants: jq is needed to read result.json (scripts/setup.sh installs it)" >&2; exit 2; }
[[ -f build/CMakeCache.txt ]] || { echo "mutants: build/ is not configured: run scripts/setup.sh first" >&2; exit 2; }

# name -> scenarios, fast, description, in file order.
names=()
declare -A scenarios_of fast_of plants_of
while IFS=$'\t' read -r name scenarios is_fast plants; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  names+=("$name")
  scenarios_of[$name]=$scenarios
  fast_of[$name]=$is_fast
  plants_of[$name]=$plants
done <"$table"

run_list=()
if ((${#selected[@]})); then
  for m in "${selected[@]}"; do
    [[ -n "${scenarios_of[$m]:-}" ]] || { echo "mutants: no mutant '$m' in $table (known: ${names[*]})" >&2; exit 2; }
    run_list+=("$m")
  done
else
  for m in "${names[@]}"; do
    if ((fast == 0)) || [[ "${fast_of[$m]}" == yes ]]; then run_list+=("$m"); fi
  done
fi

echo "mutants: building ingestd_mutant and ingestlab"
cmake --build build -j"$(nproc)" --target ingestd_mutant ingestlab >/dev/null

# The binary must refuse to run correct code by mistake: no or an unknown INGESTD_MUTANT.
for bad in "" no_such_mutant; do
  code=0
  INGESTD_MUTANT=$bad "$mutant_bin" --help >/dev/null 2>&1 || code=$?
  if ((code != 2)); then
    echo "mutants: $mutant_bin with INGESTD_MUTANT='$bad' exited $code, not 2: it must refuse to start" >&2
    exit 1
  fi
done

mkdir -p "$out"
rows=()
survivors=()
start_all=$SECONDS
for m in "${run_list[@]}"; do
  status=survived by=- failed=- took=0
  dir="$out/$m"
  rm -rf "$dir"
  IFS=',' read -r -a scens <<<"${scenarios_of[$m]}"
  tried=()
  for s in "${scens[@]}"; do
    t0=$SECONDS
    echo "mutants: $m: running $s"
    code=0
    INGESTD_MUTANT=$m "$ingestlab" run "scenarios/$s.yaml" --quiet --ingestd "$mutant_bin" \
      --out "$dir" >"$dir.$s.log" 2>&1 || code=$?
    took=$((took + SECONDS - t0))
    tried+=("$s")
    result=$(ls -d "$dir/$s"-*/result.json 2>/dev/null | head -n 1 || true)
    verdict=error
    [[ -n "$result" ]] && verdict=$(jq -r '.verdict' "$result")
    if [[ "$verdict" == fail ]]; then
      status=killed by=$s
      failed=$(jq -r '[.assertions[] | select(.passed == false)
                       | "\(.name): \(.measured // "-") \(.unit)"] | join("; ")' "$result")
      break
    elif [[ "$verdict" == pass ]]; then
      by="$(IFS=,; echo "${tried[*]}") passed"
    else
      status=error by=$s
      failed="run not carried out (exit $code): $(tail -n 1 "$dir.$s.log")"
      [[ -n "$result" ]] && failed="$(jq -r '.error' "$result")"
    fi
  done
  [[ "$status" == killed ]] || survivors+=("$m")
  rows+=("$m"$'\t'"$status"$'\t'"$by"$'\t'"$failed"$'\t'"${took}")
  echo "mutants: $m: $status ($by; $failed) in ${took} s"
done

{
  echo "| mutant | result | scenario | failed assertions (measured) | time |"
  echo "|---|---|---|---|---|"
  for r in "${rows[@]}"; do
    IFS=$'\t' read -r m st by failed took <<<"$r"
    echo "| \`$m\` | $st | $by | $failed | ${took} s |"
  done
} >"$out/matrix.md"

echo
printf '%-28s %-9s %-36s %6s  %s\n' mutant result scenario time "failed assertions (measured)"
for r in "${rows[@]}"; do
  IFS=$'\t' read -r m st by failed took <<<"$r"
  printf '%-28s %-9s %-36s %5ss  %s\n' "$m" "$st" "$by" "$took" "$failed"
done
echo
echo "mutants: ${#rows[@]} run, $((${#rows[@]} - ${#survivors[@]})) killed in $((SECONDS - start_all)) s; table in $out/matrix.md"
if ((${#survivors[@]})); then
  echo "mutants: not killed: ${survivors[*]}"
  exit 1
fi
