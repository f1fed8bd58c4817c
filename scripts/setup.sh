#!/usr/bin/env bash
# Install nmc and everything its tests need on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
# Verilog tools for --target verilog and its tests: Icarus, Verilator, Yosys, the OSU 0.18 um liberty.
if ! { command -v iverilog && command -v verilator && command -v yosys && [ -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib ]; } >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends iverilog verilator yosys qflow-tech-osu018 >/dev/null
fi
# torch is pinned to the CPU build; installing it first keeps pip from pulling CUDA wheels.
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
