#!/usr/bin/env bash
# Resume the evidence suites that are not finished (issue 4), in the background, on a 2-core
# machine: two chains, one process each, one torch thread per process. Every (strategy, seed)
# pair checkpoints after each round and resumes where it stopped, so this can be started,
# stopped (kill the chains, then `pkill -f "labelwise bench"`) and started again at any time.
#
#     setsid nohup bash benchmarks/resume_evidence.sh > /tmp/evidence.log 2>&1 < /dev/null &
#
# Progress and the recorded time left: `.venv/bin/labelwise bench SUITE --out DIR --status`.
# When a chain has finished (or was stopped), regenerate the reports (bench writes them after
# every finished pair too), commit results/ and update the tables in benchmarks/README.md.
set -u
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
bench=".venv/bin/labelwise bench"
(
    $bench benchmarks/suites/fashion-mnist.toml --out benchmarks/results/fashion-mnist --seeds 1
    $bench benchmarks/suites/fashion-mnist.toml --out benchmarks/results/fashion-mnist --seeds 2
) &
(
    # Cheap strategies of seed 2 first (three paired seeds for all of them), then the slow
    # label-dispersion and VAAL runs, then the remaining seeds.
    $bench benchmarks/suites/mnist-dbal.toml --out benchmarks/results/mnist-dbal --seeds 2 \
        --strategies random,batchbald,coreset,badge,power-bald,egl
    for seed in 1 2 3 4; do
        $bench benchmarks/suites/mnist-dbal.toml --out benchmarks/results/mnist-dbal --seeds "$seed"
    done
) &
wait
