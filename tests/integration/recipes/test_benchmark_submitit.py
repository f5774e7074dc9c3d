"""A tiny benchmark grid through submitit's local executor, then re-run."""

import json
import os

import pytest

from speechbrain_ext.benchmark.cli import main
from tests.integration.recipes.helpers import CONDITIONS, RECIPE, ROOT

GRID = """
name: tiny
seeds: [1986]
protocol: speaker
folds: [1]
test_conditions: {conditions}
regimes:
  clean: {{noise_prob: 0.0}}
  noise: {{noise_prob: 1.0}}
systems:
  ser_only:
    script: {recipe}/train.py
    hparams: {recipe}/hparams/ser_demo.yaml
    overrides:
      synthemo_folder: {synthemo}
      synthemo_utterances: 150
      number_of_epochs: 1
"""


@pytest.mark.slow
def test_tiny_grid_through_submitit_then_skipped(tmp_path, synthemo_150):
    (tmp_path / "two.yaml").write_text(CONDITIONS)
    (tmp_path / "grid.yaml").write_text(
        GRID.format(
            conditions=tmp_path / "two.yaml",
            recipe=RECIPE,
            synthemo=synthemo_150,
        )
    )
    out = tmp_path / "out"
    argv = [
        f"--grid={tmp_path / 'grid.yaml'}",
        f"--output={out}",
        f"--recipes_folder={ROOT}",
        "--executor=submitit",
        "--cluster=local",
        "--threads=1",
    ]
    board = main(argv)
    # both cells ran as submitit jobs, each in its own folder
    jobs = os.listdir(out / "submitit")
    assert any(name.endswith("_result.pkl") for name in jobs)
    records = {}
    for regime in ("clean", "noise"):
        cell = out / "ser_only" / regime / "seed1986" / "fold1"
        record = json.loads((cell / "benchmark_cell.json").read_text())
        assert record["status"] == "ran" and record["returncode"] == 0
        assert record["cpu_s"] > 1 and record["threads"] == 1
        records[regime] = record
        metrics = json.loads(
            (cell / "test_results" / "metrics.json").read_text()
        )
        summary = board["summary"]["ser_only"][regime]
        for name in ("clean", "noise_5dB"):
            assert summary[name]["UA"]["mean"] == pytest.approx(
                metrics[name]["UA"]
            )
            assert summary[name]["UA"]["n"] == 1
    assert "--noise_prob=1.0" in records["noise"]["command"]
    # the re-run finds both cells finished: nothing runs again
    before = {
        p: p.stat().st_mtime
        for p in out.rglob("*")
        if p.is_file() and "submitit" not in p.parts
    }
    again = main(argv)
    assert again["summary"] == board["summary"]
    changed = [
        p.name for p, mtime in before.items() if p.stat().st_mtime != mtime
    ]
    assert sorted(set(changed)) <= [
        "categories_5dB_tiny.png",
        "leaderboard.json",
        "leaderboard.md",
        "snr_tiny.png",
    ]
