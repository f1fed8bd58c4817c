#!/usr/bin/env bash
# Run every test: the lit/FileCheck suite, then pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
# the project's virtual environment (scripts/setup.sh) when there is one
if [ -x .venv/bin/python ] && [ -z "${VIRTUAL_ENV:-}" ]; then . .venv/bin/activate; fi
export NMC_REQUIRE_EDA=1  # the Verilog tests fail, not skip, when setup.sh could not install the EDA tools
# lit's lines as they come (not held until it ends), kept for the count below
lit_log=$(mktemp); trap 'rm -f "$lit_log"' EXIT
lit -v tests/lit 2>&1 | tee "$lit_log"; lit_rc=${PIPESTATUS[0]}
lit_out=$(cat "$lit_log")
passed=$(echo "$lit_out" | sed -n 's/^ *Passed *: *\([0-9]*\).*/\1/p'); failed=$(echo "$lit_out" | sed -n 's/^ *Failed *: *\([0-9]*\).*/\1/p')
echo "lit: ${passed:-0} passed, ${failed:-0} failed"
python3 -m pytest tests -q -p no:cacheprovider; py_rc=$?
[ "$lit_rc" -eq 0 ] && [ "$py_rc" -eq 0 ]
