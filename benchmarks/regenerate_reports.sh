#!/usr/bin/env bash
# Rebuild every committed report (report.md, summary.json, plots) under benchmarks/results/
# from the saved runs, with the comparisons the README tables were read from. Safe while
# suites run: only finished runs are read, under each folder's report lock (a bench that
# finishes a pair later rewrites its suite's report, from every finished run, the same way;
# the sibling reports with --compare are only written here).
# Usage: bash benchmarks/regenerate_reports.sh
set -euo pipefail
cd "$(dirname "$0")/results"
report="../../.venv/bin/labelwise report"

for d in text-trec mnist-dbal-lite repeated-mnist mnist-dbal fashion-mnist mnist-dbal-ceal \
         mnist-dbal-learning-loss; do
    $report "$d"
done
# Sibling suites: the main suite's runs on the sibling's seeds join as strategy@folder.
$report mnist-dbal-bbb --compare mnist-dbal --compare-strategies random,entropy,bald,batchbald
$report mnist-dbal-snapshot --compare mnist-dbal --compare-strategies random,bald,batchbald
$report mnist-dbal-ensembles --compare mnist-dbal --compare-strategies random,bald,batchbald
$report mnist-dbal-split-head --compare mnist-dbal --compare-strategies random,bald
$report mnist-dbal-stochastic-ensembles --compare mnist-dbal --compare-strategies random,bald
$report mnist-dbal-proxy --compare mnist-dbal --compare-strategies random,entropy,bald,coreset
for d in mnist-dbal-lite-ensembles mnist-dbal-lite-stochastic-ensembles; do
    $report "$d" --compare mnist-dbal-lite --compare-strategies random,bald,batchbald
done
