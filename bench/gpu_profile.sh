#!/usr/bin/env bash
# Where the time of a noise-trained full-size joint step goes on a GPU, and
# what the opt-in speed-ups change: the profiler's tables of three steps,
# then the same epoch with fused Adam and with torch.compile of the encoder.
# JSON and logs go to $OUT (default: gpu_profile_out).
#   bash bench/gpu_profile.sh
set -u
OUT=${OUT:-gpu_profile_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
W=${GPU_CHECK_WORK:-/tmp/gpu_check_work}
B="python3 bench/gpu_throughput.py --work $W --precision bf16 --noise --augment --batch_seconds 120 --infer_files 0"
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv
$B --systems joint ser --steps 10 --count_flops --profile 3 \
    >"$OUT/base.json" 2>"$OUT/base.log"
$B --systems joint --steps 10 --fused_adam \
    >"$OUT/fused.json" 2>"$OUT/fused.log"
$B --systems joint --steps 10 --warmup 6 --fused_adam --compile encoder \
    >"$OUT/compile.json" 2>"$OUT/compile.log"
python3 - "$OUT" <<'PY'
import json, sys
for name in ("base", "fused", "compile"):
    try:
        r = json.load(open(f"{sys.argv[1]}/{name}.json"))
    except Exception as e:
        print(name, "failed", e); continue
    for k, v in r["train"].items():
        print(f"{name:8s} {k:12s} {v['seconds_per_step']:.3f} s/step "
              f"{v['audio_seconds_per_second']:7.1f} audio-s/s "
              f"{v['peak_memory_gib']:5.1f} GiB "
              f"mfu={v.get('matmul_utilisation', float('nan')):.3f}")
PY
