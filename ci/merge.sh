#!/usr/bin/env bash
# The CI matrix's verdict: merge each lane's shards into one report.
#
#   ci/merge.sh REPORTS OUT
#
# For every lane folder REPORTS/<lane>/ (as ci/shard.sh writes them), merges its
# shard-*/parity.json into OUT/<lane>/ with `signbart-parity report merge`, which refuses
# shards of different runs, a missing shard and a shard given twice. With
# $GITHUB_STEP_SUMMARY set, each lane's Markdown summary is appended to it. Exit 0 when
# every lane passed, 1 when a merged run failed, 2 when a lane's shards were refused (or
# none were found).
set -uo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: ci/merge.sh REPORTS OUT" >&2
    exit 2
fi
reports=$1 out=$2
worst=0
found=0
for lane in "$reports"/*/; do
    lane=${lane%/}
    shards=("$lane"/shard-*/parity.json)
    [ -e "${shards[0]}" ] || continue
    found=1
    name=$(basename "$lane")
    signbart-parity report merge "${shards[@]}" --output "$out/$name"
    code=$?
    if [ "$code" -eq 2 ] || { [ "$code" -ne 0 ] && [ "$worst" -ne 2 ]; }; then
        worst=$code
    fi
done
if [ "$found" -eq 0 ]; then
    echo "ci/merge.sh: no shard reports under $reports (expected $reports/<lane>/shard-K/parity.json)" >&2
    exit 2
fi
exit "$worst"
