"""The papers' directions on the demos, over three seeds, by the benchmark.

Each test runs a packaged benchmark grid (``python -m
speechbrain_ext.benchmark``) for the systems a direction compares, three
seeds each, and asserts the leaderboard's verdict. A direction is asserted
only where it held by more than the seed-to-seed range when measured: the
fusion family's directions did not (grid ``fusion_directions``; the
recipe README gives the numbers), so they have no test here. The A2W
direction held, narrowly (difference of the means 5.5 UA points against a
range of 4.8). The tests take hours on 2 cores, so they run only with
``pytest --run-long tests/experiments``; ``DEMO_DIRECTIONS_WORK`` names a
folder whose finished runs are reused (the benchmark skips finished cells).
"""

import os

import pytest

from speechbrain_ext.benchmark.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _work(tmp_path, name):
    base = os.environ.get("DEMO_DIRECTIONS_WORK")
    return os.path.join(base, name) if base else str(tmp_path / name)


def _finding(board, **keys):
    (found,) = [
        f
        for f in board["findings"]
        if all(f.get(k) == v for k, v in keys.items())
    ]
    return found


@pytest.mark.long
def test_noise_training_direction(tmp_path):
    """Bansal et al.: noise training lowers the joint model's mean 5 dB WER
    beyond the seed-to-seed range (demo grid, 3 seeds: 104.8 -> 56.1,
    range 9.6). Its mean 5 dB UA rose beyond the range at 20 epochs on an
    earlier revision, but at the demo's 12 epochs the change is inside the
    range (44.0 -> 47.3, range 17.1), so UA is not asserted."""
    board = main(
        [
            "--grid=demo",
            "--systems=joint",
            f"--output={_work(tmp_path, 'benchmark_demo')}",
            f"--recipes_folder={ROOT}",
            "--workers=2",
            "--threads=1",
        ]
    )
    found = _finding(board, kind="noise_training", system="joint", metric="WER")
    assert found["verdict"] == "better", found["text"]
    assert board["summary"]["joint"]["noise"]["@5dB"]["UA"]["n"] == 3


@pytest.mark.long
def test_a2w_asr_ser_direction(tmp_path):
    """Feng et al.: the ASR-SER model (A2W pre-training, joint fine-tuning)
    beats the audio-only baseline's clean UA, beyond the seed-to-seed
    range."""
    board = main(
        [
            "--grid=a2w_baselines",
            "--systems=asr_ser,audio",
            f"--output={_work(tmp_path, 'a2w_baselines')}",
            f"--recipes_folder={ROOT}",
            "--workers=2",
            "--threads=1",
        ]
    )
    found = _finding(board, kind="direction", better="asr_ser")
    assert found["verdict"] == "better", found["text"]
    assert board["summary"]["asr_ser"]["clean"]["clean"]["UA"]["n"] == 3
