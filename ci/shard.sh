#!/usr/bin/env bash
# One job of the CI matrix: shard K of N of the release gate on one runtime lane.
#
#   ci/shard.sh K N LANE REPORTS [pytest options...]
#
# Writes REPORTS/<lane>/shard-K/parity.json (.md, .html), <lane> being LANE with every
# character other than letters, digits, '.' and '-' made '-' (tflite-runtime==2.14.0 ->
# tflite-runtime--2.14.0). The checkpoint and config come from $PARITY_CHECKPOINT and
# $PARITY_CONFIG (the embedded default model when unset), the export cache from
# $PARITY_EXPORTS (the per-user cache when unset); pinned runtime builds live under
# $SIGNBART_PARITY_CACHE. Exit 0 when the gate ran and wrote its report, whatever it found
# (the merged report is the verdict: ci/merge.sh); otherwise pytest's exit code (4: bad
# options, 3: internal error...).
set -uo pipefail

if [ "$#" -lt 4 ]; then
    echo "usage: ci/shard.sh K N LANE REPORTS [pytest options...]" >&2
    exit 2
fi
number=$1 total=$2 lane=$3 reports=$4
shift 4
slug=$(printf '%s' "$lane" | tr -c 'A-Za-z0-9.-' '-')
out="$reports/$slug/shard-$number"

# --noconftest: the gate is a plugin and needs no conftest, and the job runs at the root of a
# repository whose own conftest files (pytest loads ./conftest.py and ./test*/conftest.py) may
# change the run; this repository's tests/conftest.py points the cache at the test suite's.
options=(--pyargs signbart_parity.gate -p no:cacheprovider --noconftest
    "--parity-runtime=$lane" "--parity-shard=$number/$total" "--parity-report=$out")
[ -n "${PARITY_CHECKPOINT:-}" ] && options+=("--parity-checkpoint=$PARITY_CHECKPOINT")
[ -n "${PARITY_CONFIG:-}" ] && options+=("--parity-config=$PARITY_CONFIG")
[ -n "${PARITY_EXPORTS:-}" ] && options+=("--parity-cache=$PARITY_EXPORTS")

rm -f "$out/parity.json"
python -m pytest "${options[@]}" "$@"
code=$?
if [ "$code" -eq 1 ] && [ -f "$out/parity.json" ]; then
    echo "ci/shard.sh: shard $number/$total of $lane found failures; ci/merge.sh gives the verdict"
    exit 0
fi
exit "$code"
