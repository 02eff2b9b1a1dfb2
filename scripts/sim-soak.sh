#!/usr/bin/env bash
# A longer soak of the lifecycle simulation than the test command runs: scripts/sim-soak.sh [SEEDS] [STEPS] [FIRST_SEED]
# (defaults 20000 seeds of 40 steps from seed 100001, outside the test command's window). A failing seed prints
# itself; replay it with QUBRID_SIM_SEED=N QUBRID_SIM_STEPS=STEPS scripts/test.sh --filter LifecycleSimulation.
set -euo pipefail
cd "$(dirname "$0")/.."
export QUBRID_SIM_SEEDS=${1:-20000} QUBRID_SIM_STEPS=${2:-40} QUBRID_SIM_FIRST_SEED=${3:-100001}
exec bash scripts/test.sh --filter "FullyQualifiedName~LifecycleSimulation"
