#!/usr/bin/env bash
# Install nmc and everything its tests need on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
# torch is pinned to the CPU build; installing it first keeps pip from pulling CUDA wheels.
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
