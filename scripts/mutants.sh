#!/usr/bin/env bash
# Mutation testing of the data path with cargo-mutants (installed from crates.io when
# missing): every mutant of src/wire, src/fdb and src/dataplane is built and run against the
# software-port tests that cover them (the lib's unit and property tests, tests/pipeline.rs,
# tests/underlays.rs, tests/fdb_convergence.rs). A mutant the tests do not fail is "missed":
# an assertion is missing. Results in out/mutants/mutants.out (missed.txt, caught.txt).
#
#   scripts/mutants.sh                # all of them: about 2 100 mutants, many hours on 2 cores
#   scripts/mutants.sh 0/16           # one shard of 16 (about 130 mutants, about 1.5 hours)
#   JOBS=4 scripts/mutants.sh 3/16    # more builds at once on a bigger machine
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
shard=()
[[ -n ${1:-} ]] && shard=(--shard "$1")
mkdir -p out/mutants
# Fewer proptest cases per mutant: the suite is run some thousand times.
PROPTEST_CASES=${PROPTEST_CASES:-32} cargo mutants --no-default-features \
    -f 'src/wire/*.rs' -f 'src/fdb/*.rs' -f 'src/dataplane/*.rs' "${shard[@]}" \
    -j "${JOBS:-1}" -o out/mutants --timeout 120 -- \
    --lib --test pipeline --test underlays --test fdb_convergence
