#!/usr/bin/env bash
# Install nmc and everything its tests need on a fresh machine (idempotent).
# Python packages go into the project's virtual environment .venv (Debian's own python3 refuses
# system-wide pip installs, PEP 668); activate it with `. .venv/bin/activate`.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
# a line when each long step starts and ends, with its seconds: installs are quiet, but never silent for minutes
started=$SECONDS
step() { echo "[setup $(date +%H:%M:%S)] $*"; }
apt_packages=()
# Verilog tools for --target verilog and its tests: Icarus, Verilator, Yosys, the OSU 0.18 um liberty, OpenSTA.
if ! { command -v iverilog && command -v verilator && command -v yosys && command -v sta && [ -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib ]; } >/dev/null 2>&1; then
    apt_packages+=(iverilog verilator yosys qflow-tech-osu018 opensta)
fi
# a C++ compiler and Python's headers: xylosim (SynSense's Xylo simulator, a test dependency) builds from source
if ! command -v g++ >/dev/null 2>&1; then
    apt_packages+=(g++)
fi
if ! python3 -c "import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))" >/dev/null 2>&1; then
    apt_packages+=(python3-dev)
fi
if [ ! -x .venv/bin/python ] && ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    apt_packages+=(python3-venv)  # Debian ships venv/ensurepip separately
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
    step "apt-get: ${apt_packages[*]} (a few minutes on a fresh machine)"
    t=$SECONDS
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
    step "apt-get done in $((SECONDS - t)) s"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch is pinned (2.13.0, the CPU build where the machine offers it) and installed first, so that
# nothing else pulls a newer torch with several GB of CUDA wheels.
# On a machine that reaches download.pytorch.org, torch comes from its CPU-only index (PyPI's Linux wheels
# pull ~3 GB of CUDA libraries); machines with their own package mirror use that.
torch_index=()
if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('https://download.pytorch.org/whl/cpu/torch/', timeout=5)" 2>/dev/null; then
    torch_index=(--index-url https://download.pytorch.org/whl/cpu)
fi
step "pip: torch 2.13.0 (CPU build)"
t=$SECONDS
"${pip[@]}" "${torch_index[@]}" "torch==2.13.0"
step "pip: torch done in $((SECONDS - t)) s; now nmc and its test packages (pyproject.toml, scripts/constraints.txt)"
t=$SECONDS
"${pip[@]}" -c scripts/constraints.txt -e ".[test]"
# NeuroBench's harness for tests/test_neurobench.py, without its data-set dependencies: torchaudio pins an
# older torch, and the harness and metrics import without it (or tonic)
"${pip[@]}" --no-deps "neurobench==2.3.0"
step "pip: nmc done in $((SECONDS - t)) s; setup took $((SECONDS - started)) s"
echo "nmc is installed in .venv: run '. .venv/bin/activate' to put nmc-compile, nmc-run, nmc-opt, nmc-search and nmc-tnn on PATH"
