#!/usr/bin/env bash
# The GPU checks no CI machine can run, as one short script for a session that is lent a device.
# From the repo root on the GPU machine (its torch must see CUDA; missing Python packages travel as wheels,
# see the device tool's README):  bash benchmarks/device_check.sh   -> logs in ${OUT:-results/device}/
# Budget: about 8 minutes on one H200.
set -uo pipefail
out=${OUT:-results/device}; mkdir -p "$out"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
python -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || echo "editable install failed; using PYTHONPATH" && export PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
# Issue 3 goals: guidance overhead <= 2% per step, batched >= 2x batch-1 throughput (real SDXL UNet, random weights, fp16)
timeout 300 python benchmarks/alignment.py --model sdxl-random --steps 10 --repeats 3 --batches 1,4,8 2>&1 | tee "$out/alignment.log"
# The offline protocol's Random anchors (DC's evaluate_synset, full test set) at DC's width 128 and ours (32), on the GPU
timeout 150 python benchmarks/evaluation.py --device cuda --jobs 1 --widths 32,128 --ipcs 1,10,50 --seeds 0,1,2 --out "$out/evaluation" 2>&1 | tee "$out/evaluation.log"
tail -n 1 "$out/alignment.log"
