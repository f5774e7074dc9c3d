"""``bench/gpu_throughput.py`` on the CPU with the tiny preset.

The same code that times the full-size systems on a GPU: the recipes'
training steps with noise training (noisy copies double the audio), the
inference forward pass of the three systems, FLOP counting.
"""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.mark.slow
def test_bench_reports_throughput_ratios_and_utilisation(tmp_path):
    cmd = [
        sys.executable,
        os.path.join(ROOT, "bench", "gpu_throughput.py"),
        "--device=cpu",
        "--preset=tiny",
        "--steps=2",
        "--warmup=1",
        "--infer_files=8",
        "--batch_seconds=12",
        "--noise",
        "--count_flops",
        f"--work={tmp_path}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert set(report["train"]) == {"joint_fp32", "asr_fp32", "ser_fp32"}
    for result in report["train"].values():
        assert result["audio_seconds_per_second"] > 0
        assert result["utterances_per_step"] >= 1
        assert 0 < result["model_tflop_per_audio_second"] < 1
        assert 0 < result["matmul_utilisation"] < 1
        assert all(math.isfinite(x) for x in result["loss_first_last"])
    # the random CTC head was calibrated to a speaking rate
    assert 10 < report["calibrated_cps"] < 18
    assert report["joint_over_ser_step_fp32"] > 0
    key = "joint_over_asr_plus_ser_inference_fp32_batch8"
    assert 0 < report[key] < 2
    # padded batches stay within the dynamic budget
    assert report["mean_train_batch_seconds"] <= 12
