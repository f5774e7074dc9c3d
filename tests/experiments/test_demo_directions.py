"""The papers' directions on the demos, over three seeds.

Each test trains the demo systems a direction compares, three seeds each,
through the bench script that writes the README's tables, and asserts the
direction. A direction is asserted only where it held by more than the
seed-to-seed range when measured: the fusion family's directions did not
(``bench/fusion_directions.py`` and the recipe README give the numbers),
so they have no test here. The A2W direction held, narrowly (difference
of the means 5.5 UA points against a range of 4.8). The tests take hours
on 2 cores, so they run only with ``pytest --run-long tests/experiments``;
``DEMO_DIRECTIONS_WORK`` names a folder whose finished runs are reused.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

SEEDS = ["1986", "1987", "1988"]


def _work(tmp_path, name):
    base = os.environ.get("DEMO_DIRECTIONS_WORK")
    return os.path.join(base, name) if base else str(tmp_path / name)


@pytest.mark.long
def test_noise_training_direction(tmp_path):
    """Bansal et al.: noise training lowers the mean 5 dB WER and raises
    the mean 5 dB UA of the joint model, beyond the seed-to-seed range."""
    import noise_training

    summary = noise_training.main(
        [
            "--systems",
            "joint",
            "--seeds",
            *SEEDS,
            "--work",
            _work(tmp_path, "noise_training"),
        ]
    )
    d = summary["direction"]["joint"]
    mean, spread = d["mean"], d["range"]
    wer_gain = mean["clean"]["WER_5dB"] - mean["noise"]["WER_5dB"]
    ua_gain = mean["noise"]["UA_5dB"] - mean["clean"]["UA_5dB"]
    assert len(d["per_seed"]) == len(SEEDS), d
    assert wer_gain > max(s["WER_5dB"] for s in spread.values()), d
    assert ua_gain > max(s["UA_5dB"] for s in spread.values()), d


@pytest.mark.long
def test_a2w_asr_ser_direction(tmp_path):
    """Feng et al.: the ASR-SER model (A2W pre-training, joint fine-tuning)
    beats the audio-only baseline's clean UA, beyond the seed-to-seed
    range."""
    import a2w_demo

    joint, audio = [], []
    for seed in SEEDS:
        report = a2w_demo.main(
            [
                "--seed",
                seed,
                "--baselines",
                "audio",
                # the ordering of the README's three-seed measurement
                "--decoder_ordering",
                "speechbrain",
                "--work",
                _work(tmp_path, f"a2w_{seed}"),
            ]
        )
        joint.append(report["results"]["asr_ser"]["clean"]["UA"])
        audio.append(report["results"]["audio"]["clean"]["UA"])
    gain = sum(joint) / len(joint) - sum(audio) / len(audio)
    spread = max(max(joint) - min(joint), max(audio) - min(audio))
    assert gain > spread, (joint, audio)
