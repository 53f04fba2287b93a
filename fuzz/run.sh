#!/bin/sh
# Runs one fuzz target over its committed corpus, then for SECONDS more on
# new inputs. Every corpus input runs first, so a crash input that was once
# added to fuzz/corpus/<target>/ fails this run: it stays a regression test.
# New interesting inputs go to a scratch directory (not the repository);
# crashes go to ARTIFACTS as crash-<sha1>, to be added to the corpus.
#   fuzz/run.sh BINARY CORPUS_DIR SECONDS ARTIFACTS_DIR [libFuzzer flags...]
set -eu
bin=$1 corpus=$2 seconds=$3 artifacts=$4
shift 4
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/xacct-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
# -timeout: one input taking this long is a hang (a finding, not a flake).
"$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$@" "$work" "$corpus"
