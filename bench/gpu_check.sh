#!/usr/bin/env bash
# One run on a GPU machine. Logs and JSON go to $OUT (default:
# gpu_check_out).
#   bash bench/gpu_check.sh joint      # CUDA test; profile, fused Adam,
#                                      # inference, bf16 vs fp32 of joint.yaml
#   bash bench/gpu_check.sh families   # every family's full-size yaml,
#                                      # noise-trained (NOISE_PROB=0: clean)
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
W=${GPU_CHECK_WORK:-/tmp/gpu_check_work}
B="python3 bench/gpu_throughput.py --work $W"
E="--precision bf16 --noise --augment --batch_seconds 120 --infer_files 0"
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
git rev-parse --short HEAD 2>/dev/null
if [ "${1:-joint}" = families ]; then
    python3 bench/gpu_families.py --work "$W/families" \
        --copies "${COPIES:-12}" --noise_prob "${NOISE_PROB:-1.0}" \
        ${FAMILIES:+--families $FAMILIES} \
        >"$OUT/families.json" 2>"$OUT/families.log"
    python3 - "$OUT" <<'PY'
import json, sys
r = json.load(open(f"{sys.argv[1]}/families.json"))
for name, v in r["families"].items():
    print(f"{name:16s} rc={v['rc']} {v.get('audio_s_per_s', 0):8.1f} audio-s/s "
          f"{v.get('utt_per_s', 0):7.1f} utt/s {v.get('peak_gib', 0):5.1f} GiB "
          f"{v.get('minutes_per_fold', 0):6.1f} min/fold wall {v['wall_s']:.0f}s")
PY
    exit 0
fi
python3 -m pytest -q --noconftest -p no:cacheprovider \
    tests/integration/recipes/test_cuda.py >"$OUT/test_cuda.log" 2>&1
tail -1 "$OUT/test_cuda.log"
# Noise-trained epoch of joint.yaml and ser_baseline.yaml: profiler tables
$B --systems joint ser $E --steps 10 --count_flops --profile 3 \
    >"$OUT/train.json" 2>"$OUT/train.log"
$B --systems joint $E --steps 10 --fused_adam \
    >"$OUT/fused.json" 2>"$OUT/fused.log"
# Inference, batches of 8 and 32, bf16
$B --steps 0 --infer_files 96 --infer_batch_size 8 32 --eval_precision bf16 \
    >"$OUT/inference.json" 2>"$OUT/inference.log"
# bf16 against fp32: 200 steps from the same weights on the same batches
$B --precision fp32 bf16 --compare_steps 200 --batch_size 4 \
    >"$OUT/precision.json" 2>"$OUT/precision.log"
python3 - "$OUT" <<'PY'
import json, sys
for name in ("train", "fused", "inference", "precision"):
    try:
        r = json.load(open(f"{sys.argv[1]}/{name}.json"))
    except Exception as e:
        print(name, "failed", e); continue
    if name == "precision":
        print("precision", {k: v for k, v in r.items() if "diff" in k})
        continue
    for k, v in r["train"].items():
        print(f"{name:6s} {k:10s} {v['seconds_per_step']:.3f} s/step "
              f"{v['utterances_per_step']:5.1f} utt/step "
              f"{v['audio_seconds_per_second']:7.1f} audio-s/s "
              f"{v['peak_memory_gib']:5.1f} GiB "
              f"mfu={v.get('matmul_utilisation', float('nan')):.3f}")
    for k, v in r["inference"].items():
        print(f"  infer {k:18s} {v['audio_seconds_per_second']:8.1f} audio-s/s")
    print("  ratios", {k: round(v, 3) for k, v in r.items()
                       if k.startswith("joint_over")})
PY
