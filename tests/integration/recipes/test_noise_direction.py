"""Noise training helps under noise: the direction of Bansal et al. (2023).

The joint demo recipe is trained on 600 SynthEmo utterances for 6 epochs,
clean and noise-trained (``--noise_prob=1.0``), with 3 seeds, through
``bench/noise_training.py``. Under the three 5 dB conditions (noise, music,
babble), the noise-trained models must have a lower mean WER and a higher
mean UA than the clean-trained ones, by more than the seed-to-seed range
(max - min over the seeds) of either group.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
SEEDS = ("1986", "1987", "1988")


@pytest.mark.slow
def test_noise_training_improves_5db_wer_and_ua(tmp_path):
    cmd = [
        sys.executable,
        os.path.join(ROOT, "bench", "noise_training.py"),
        f"--work={tmp_path}",
        "--systems",
        "joint",
        "--seeds",
        *SEEDS,
        "--",
        "--synthemo_utterances=600",
        "--number_of_epochs=6",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    direction = report["direction"]["joint"]
    assert sorted(direction["per_seed"]) == sorted(SEEDS)
    mean, spread = direction["mean"], direction["range"]
    for key, better in (("WER_5dB", -1), ("UA_5dB", 1)):
        gain = better * (mean["noise"][key] - mean["clean"][key])
        margin = max(spread["clean"][key], spread["noise"][key])
        assert gain > margin, (key, direction)
