#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-fuzzer.sh FUZZER WORK_DIR CORPUS_DIR SECONDS
# Runs FUZZER for SECONDS from CORPUS_DIR; new inputs go to WORK_DIR.
set -eu
fuzzer=$1 work=$2 corpus=$3 seconds=$4
mkdir -p "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work" "$corpus"
