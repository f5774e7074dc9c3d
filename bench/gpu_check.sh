#!/usr/bin/env bash
# One run on a GPU machine: the CUDA test, inference of the three full-size systems
# and the throughput of an IEMOCAP-like noise-trained epoch with dynamic
# batches. Logs and JSON go to $OUT (default: gpu_check_out).
#   bash bench/gpu_check.sh [notest]
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
W=${GPU_CHECK_WORK:-/tmp/gpu_check_work}
B="python3 bench/gpu_throughput.py --work $W"
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv
if [ "${1:-}" != notest ]; then
    python3 -m pytest -q --noconftest -p no:cacheprovider \
        tests/integration/recipes/test_cuda.py >"$OUT/test_cuda.log" 2>&1
    tail -3 "$OUT/test_cuda.log"
fi
# Inference: the three systems, batches of 8 and 32, fp32 and bf16
$B --steps 0 --infer_files 96 --infer_batch_size 8 32 \
    --eval_precision fp32 bf16 --profile_inference \
    >"$OUT/inference.json" 2>"$OUT/inference.log"
# IEMOCAP-like epoch: dynamic batches, augmented and noisy copies
$B --systems joint ser --precision bf16 --noise --augment \
    --batch_seconds 240 --steps 10 --count_flops --infer_files 0 \
    >"$OUT/dynamic240_noise.json" 2>"$OUT/dynamic240_noise.log"
python3 - "$OUT" <<'PY'
import json, sys
for name in ("inference", "dynamic240_noise"):
    try:
        r = json.load(open(f"{sys.argv[1]}/{name}.json"))
    except Exception as e:
        print(name, "failed", e); continue
    print(name, r["device"])
    for k, v in r["train"].items():
        print(f"  {k:12s} {v['seconds_per_step']:.3f} s/step "
              f"{v['audio_seconds_per_second']:7.1f} audio-s/s "
              f"{v['peak_memory_gib']:5.1f} GiB "
              f"mfu={v.get('matmul_utilisation', float('nan')):.3f}")
    for k, v in r["inference"].items():
        print(f"  infer {k:18s} {v['audio_seconds_per_second']:8.1f} "
              f"audio-s/s, {v['mean_hypothesis_words']:.1f} words")
    print("  ratios", {k: round(v, 3) for k, v in r.items()
                       if k.startswith("joint_over")})
PY
