"""The benchmark: grids, dry runs, the leaderboard's statistics and findings."""

import json
import os
import re
import subprocess

import pytest
import yaml

from speechbrain_ext.benchmark.cli import grid_overrides, main
from speechbrain_ext.benchmark.executors import CellJob, code_version
from speechbrain_ext.benchmark.grid import Grid, find_grid
from speechbrain_ext.benchmark.leaderboard import (
    _categories_figure,
    _snr_figure,
    write_leaderboard,
)
from speechbrain_ext.utils.report import write_condition_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
PAPER_DATA = [
    "--",
    "--iemocap_folder=/data/IEMOCAP_full_release",
    "--musan_folder=/data/musan",
    "--emodb_folder=/data/emodb",
    "--librispeech_folder=/data/LibriSpeech",
]


def test_demo_grid_covers_every_family_clean_and_noise_trained(tmp_path):
    grid = Grid("demo", tmp_path, recipes_folder=ROOT)
    cells = grid.cells()
    assert set(grid.systems) == {
        "joint",
        "asr_only",
        "ser_only",
        "fusion",
        "a2w_ser",
        "residual",
        "emodb_lstm",
    }
    assert len(cells) == 7 * 2 * 3
    scripts = {c.command[1] for c in cells}
    assert len(scripts) == 5  # the five recipe folders of the SER families
    for cell in cells:
        args = cell.command[3:]
        assert f"--seed={cell.seed}" in args
        assert f"--output_folder={cell.folder}" in args
        assert "--test_conditions=snr_sweep" in args
        noise = "--noise_prob=1.0" if cell.regime == "noise" else None
        assert (noise in args) if noise else "--noise_prob=0.0" in args
        assert cell.folder == os.path.join(
            str(tmp_path), cell.system, cell.regime, f"seed{cell.seed}", "fold1"
        )
        protocol = "speakers" if cell.system == "emodb_lstm" else "speaker"
        assert f"--protocol={protocol}" in args
        # every condition of the sweep must be reported for the cell to count
        assert "test_results/speech_0dB/predictions.csv" in cell.done
    # one pre-training, needed by the A2W ASR-SER system only
    assert grid.needed_prerequisites() == ["a2w_pretrain"]
    (pre,) = grid.prerequisite_cells()
    a2w = next(c for c in cells if c.system == "a2w_ser")
    assert f"--pretrained_path={pre.folder}/pretrained" in a2w.command


def _corpus_options(cell):
    """A cell's embedded-corpus keys (``synth*_``): its yaml's values with
    the cell's command-line overrides."""

    class Loader(yaml.SafeLoader):
        pass

    # tagged values (!ref, !new: ...) are read as None: only the literal
    # top-level settings name a corpus
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(cell.command[2], encoding="utf-8") as fin:
        options = yaml.load(fin, Loader)
    for argument in cell.command[3:]:
        key, value = argument[2:].split("=", 1)
        options[key] = yaml.safe_load(value)
    return {k: v for k, v in options.items() if re.match(r"synth\w*_", k)}


@pytest.mark.parametrize(
    "name", ["demo", "fusion_directions", "a2w_baselines", "paper"]
)
def test_systems_sharing_a_corpus_folder_generate_the_same_corpus(
    name, tmp_path
):
    """A table compares systems on one test set: the systems that read one
    generated corpus folder ask for the same corpus (the generator refuses
    a folder made with other options, so such a cell would fail)."""
    data = grid_overrides(PAPER_DATA[1:]) if name == "paper" else None
    grid = Grid(name, tmp_path, recipes_folder=ROOT, overrides=data)
    grid.seeds = grid.seeds[:1]
    by_folder = {}
    for cell in grid.cells():
        options = _corpus_options(cell)
        for key, folder in options.items():
            if not key.endswith("_folder"):
                continue
            prefix = key[: -len("folder")]
            asked = {k: v for k, v in options.items() if k.startswith(prefix)}
            by_folder.setdefault(folder, {})[cell.system] = asked
    for folder, systems in by_folder.items():
        variants = {json.dumps(v, sort_keys=True) for v in systems.values()}
        assert len(variants) == 1, f"{name}: {folder}: {systems}"


def test_grid_errors_name_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "seeds: [1]\ntest_conditions: clean\nregimes: {clean: {}}\n"
        "systems:\n  a: {script: /nowhere/train.py, hparams: x.yaml}\n"
    )
    with pytest.raises(FileNotFoundError, match="bad.yaml.*nowhere/train.py"):
        Grid(str(bad), tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="No grid 'paper9'"):
        find_grid("paper9")


def _sbatch_options(script):
    return dict(
        re.fullmatch(r"#SBATCH --([\w-]+)(?:=(.*))?", line).groups()
        for line in script.splitlines()
        if line.startswith("#SBATCH")
    )


def test_paper_grid_dry_run_prints_valid_slurm_job_arrays(tmp_path, capsys):
    main(
        [
            "--grid=paper",
            f"--output={tmp_path}",
            f"--recipes_folder={ROOT}",
            "--executor=submitit",
            "--partition=gpu",
            "--gpus_per_node=1",
            "--cpus_per_task=8",
            "--mem_gb=64",
            "--timeout_min=1440",
            "--array_parallelism=32",
            "--dry_run",
            *PAPER_DATA,
        ]
    )
    out = capsys.readouterr().out
    assert not os.listdir(tmp_path)  # nothing started, nothing written
    commands = [line for line in out.splitlines() if line.startswith("cd ")]
    # 3 systems x 10 speaker folds, 3 systems x 5 folds, Emo-DB 10 folds,
    # clean and noise-trained, plus the A2W pre-training
    assert len(commands) == 2 * (3 * 10 + 3 * 5 + 10) + 1
    assert all("/data/musan" in c for c in commands)
    assert (
        sum("--data_folder=/data/IEMOCAP_full_release" in c for c in commands)
        == 90
    )
    scripts = re.findall(r"#!/bin/bash\n.*?\nsrun [^\n]*\n", out, re.S)
    # first array: the pre-training and every run that does not need it;
    # second: the A2W fine-tuning runs (2 regimes x 5 folds)
    assert len(scripts) == 2
    for script, n in zip(scripts, (101, 10)):
        check = subprocess.run(["bash", "-n"], input=script, text=True)
        assert check.returncode == 0
        options = _sbatch_options(script)
        assert options["partition"] == "gpu"
        assert options["gpus-per-node"] == "1"
        assert options["cpus-per-task"] == "8"
        assert options["mem"] == "64GB"
        assert options["time"] == "1440"
        assert options["array"] == f"0-{n - 1}%{min(n, 32)}"
        assert "submitit.core._submit" in script
        # requeued on preemption or time-out (the recipe resumes)
        assert options["signal"].startswith("USR2")


def _finished_cell(cell, ua, wer, code="0123456789ab"):
    """Writes a cell's test reports with the given UA and WER per condition.

    8 utterances (4 neu, 4 sad) of 5 words: ``w`` wrong emotions per class
    give UA = 100 - 25 w, and each substituted word adds 2.5 WER points.
    """
    results = os.path.join(cell.folder, "test_results")
    for name in ua:
        wrong_per_class = round((100 - ua[name]) / 25)
        substitutions = round(wer[name] * 40 / 100)
        records = []
        for i in range(8):
            emo = ["neu", "sad"][i % 2]
            other = ["sad", "neu"][i % 2]
            n_sub = min(5, max(0, substitutions - 5 * i))
            records.append(
                {
                    "id": f"u{i}",
                    "emo": emo,
                    "pred": other if i // 2 < wrong_per_class else emo,
                    "ref": "a b c d e",
                    "hyp": " ".join(
                        ["x"] * n_sub
                        + ["a b c d e".split()[k] for k in range(n_sub, 5)]
                    ),
                }
            )
        write_condition_report(results, name, records, ["neu", "sad"])
    with open(os.path.join(results, "metrics.json"), "w") as f:
        json.dump({}, f)
    with open(os.path.join(cell.folder, "benchmark_cell.json"), "w") as f:
        json.dump(
            {"cpu_s": 100.0, "wall_s": 60.0, "max_rss_gb": 1.0, "code": code},
            f,
        )


GRID = """
seeds: [1, 2, 3]
folds: [1]
test_conditions: {conditions}
regimes:
  clean: {{noise_prob: 0.0}}
  noise: {{noise_prob: 1.0}}
systems:
  joint: {{script: {script}, hparams: {script}}}
  ser_only: {{script: {script}, hparams: {script}}}
comparisons:
  joint: {{ser: ser_only}}
directions:
  - {{better: joint, worse: ser_only, metric: UA, condition: noise_5dB,
     regime: noise}}
"""
CONDITIONS = """conditions:
  - {name: clean, category: null, snr_db: null}
  - {name: noise_5dB, category: noise, snr_db: 5}
  - {name: music_5dB, category: music, snr_db: 5}
"""


def _toy_grid(tmp_path):
    """The grid of GRID and CONDITIONS, written under ``tmp_path``."""
    (tmp_path / "conditions.yaml").write_text(CONDITIONS)
    script = tmp_path / "train.py"
    script.write_text("")
    (tmp_path / "grid.yaml").write_text(
        GRID.format(conditions=tmp_path / "conditions.yaml", script=script)
    )
    return Grid(str(tmp_path / "grid.yaml"), tmp_path / "out")


def test_leaderboard_statistics_and_findings(tmp_path):
    grid = _toy_grid(tmp_path)
    # UA (accuracy over 8 utterances) per seed: clean-trained joint loses
    # 25-50 points at 5 dB; noise training keeps it at 75; the SER-only
    # system loses as much as the joint one; seed 3's noisy WER is 40.
    for cell in grid.cells():
        noisy = 75 if cell.regime == "noise" else (50 if cell.seed < 3 else 25)
        if cell.system == "ser_only" and cell.regime == "noise":
            noisy = 75 if cell.seed == 1 else 50
        ua = {"clean": 100, "noise_5dB": noisy, "music_5dB": noisy}
        wer = {"clean": 0, "noise_5dB": 40 if cell.seed == 3 else 20}
        wer["music_5dB"] = wer["noise_5dB"]
        _finished_cell(cell, ua, wer)
    board = write_leaderboard(grid)
    joint = board["summary"]["joint"]
    assert joint["clean"]["clean"]["UA"]["mean"] == 100.0
    ua5 = joint["clean"]["@5dB"]["UA"]
    assert ua5["mean"] == pytest.approx(125 / 3)
    assert (ua5["min"], ua5["max"], ua5["n"]) == (25.0, 50.0, 3)
    assert joint["clean"]["@5dB"]["UA_degradation"]["mean"] == pytest.approx(
        100 - 125 / 3
    )
    assert joint["noise"]["@5dB"]["WER"]["mean"] == pytest.approx(80 / 3)
    texts = {
        (f["kind"], f.get("system", f.get("joint")), f["metric"]): f
        for f in board["findings"]
    }
    # 75 vs 41.7 with seed ranges 0 and 25: beyond the spread
    assert texts[("noise_training", "joint", "UA")]["verdict"] == "better"
    # WER is the same in both regimes: inside the spread
    assert texts[("noise_training", "joint", "WER")]["verdict"] == "within"
    # SER-only: 58.3 (range 25) vs 41.7 (range 25): inside the spread
    assert texts[("noise_training", "ser_only", "UA")]["verdict"] == "within"
    assert texts[("most_robust", "joint", "UA")]["verdict"] == "within"
    joint_vs = [f for f in board["findings"] if f["kind"] == "joint_vs_single"]
    assert {f["regime"]: f["verdict"] for f in joint_vs} == {
        "clean": "within",
        "noise": "within",
    }
    # the same judgement for each condition at 5 dB
    by_condition = {
        (f["system"], f["metric"], f["condition"]): f
        for f in board["findings"]
        if f["kind"] == "noise_training_by_condition"
    }
    assert set(by_condition) == {
        (system, metric, condition)
        for system in ("joint", "ser_only")
        for metric in ("UA", "WER")
        for condition in ("noise_5dB", "music_5dB")
    }
    joint_noise = by_condition[("joint", "UA", "noise_5dB")]
    assert joint_noise["verdict"] == "better"
    assert joint_noise["difference"] == pytest.approx(100 / 3)
    assert by_condition[("ser_only", "UA", "music_5dB")]["verdict"] == "within"
    assert by_condition[("joint", "WER", "music_5dB")]["verdict"] == "within"
    (direction,) = [f for f in board["findings"] if f["kind"] == "direction"]
    # 75 (range 0) vs 58.3 (range 25)
    assert direction["verdict"] == "within"
    assert direction["difference"] == pytest.approx(50 / 3)
    assert (
        "joint above ser_only in UA noise_5dB (noise-trained)"
        in (direction["text"])
    )
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "| joint | noise | 3 | 100.0 ± 0.0 | 75.0 ± 0.0 |" in markdown
    helps = "+33.3 (helps, range 25.0)"
    assert f"| joint | UA | {helps} | {helps} | {helps} |" in markdown
    # one bullet per system and metric, not per condition
    assert "for UA noise_5dB" not in markdown
    assert "Total CPU time: 0.33 h" in markdown  # 12 cells x 100 s
    assert "Every run used the code of `0123456789ab`." in markdown
    assert board["code"] == ["0123456789ab"]
    # a cell re-run with other code is reported, not pooled unseen
    _finished_cell(grid.cells()[0], ua, wer, code="0123456789ab-dirty")
    board = write_leaderboard(grid)
    assert board["code"] == ["0123456789ab", "0123456789ab-dirty"]
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "**The runs used different code**" in markdown
    for png in ("snr_grid.png", "categories_5dB_grid.png"):
        assert (tmp_path / "out" / png).stat().st_size > 10_000


def test_every_drawn_line_and_bar_is_named_in_its_rows_legend(tmp_path):
    """A system that reports WER only (an ASR baseline) has its own label."""
    grid = _toy_grid(tmp_path)
    stats = {"mean": 50.0, "std": 2.0}
    names = ("clean", "noise_5dB", "music_5dB")
    # joint reports UA only, ser_only (standing for an ASR-only system) WER
    summary = {
        "joint": {r: {c: {"UA": stats} for c in names} for r in grid.regimes},
        "ser_only": {
            r: {c: {"WER": stats} for c in names} for r in grid.regimes
        },
    }
    expected = {
        "UA": {"joint (clean)", "joint (noise)"},
        "WER": {"ser_only (clean)", "ser_only (noise)"},
    }
    for figure in (
        _snr_figure(grid, summary, "grid"),
        _categories_figure(grid, summary, "grid"),
    ):
        by_metric = {}
        for axes in figure.axes:
            metric = axes.get_ylabel().split()[0]
            drawn = {
                artist.get_label()
                for artist in [*axes.lines, *axes.containers]
                if not artist.get_label().startswith("_")
            }
            legend = axes.get_legend()
            named = (
                {t.get_text() for t in legend.get_texts()} if legend else set()
            )
            row = by_metric.setdefault(metric, {"drawn": set(), "named": set()})
            row["drawn"] |= drawn
            row["named"] |= named
        assert {m: r["drawn"] for m, r in by_metric.items()} == expected
        for metric, row in by_metric.items():
            assert row["drawn"] <= row["named"], metric


def test_code_version_names_the_commit_and_uncommitted_changes(tmp_path):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "recipe")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert code_version(str(tmp_path)) == commit[:12]
    (tmp_path / "train.py").write_text("print(2)\n")
    assert code_version(str(tmp_path)) == commit[:12] + "-dirty"


def test_cell_job_skips_finished_cells_and_reports_failures(tmp_path):
    (tmp_path / "conditions.yaml").write_text(CONDITIONS)
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, os\n"
        "out = [a.split('=', 1)[1] for a in sys.argv if 'output_folder' in a]\n"
        "sys.exit(3) if '--seed=2' in sys.argv else None\n"
        "os.makedirs(out[0] + '/test_results', exist_ok=True)\n"
    )
    (tmp_path / "grid.yaml").write_text(
        GRID.format(conditions=tmp_path / "conditions.yaml", script=script)
    )
    grid = Grid(str(tmp_path / "grid.yaml"), tmp_path / "out")
    cell = grid.cells()[1]  # joint, clean, seed 2
    with pytest.raises(RuntimeError, match="exit status 3.*benchmark_log.txt"):
        CellJob()(cell)
    record = json.loads(
        (tmp_path / cell.folder / "benchmark_cell.json").read_text()
    )
    assert record["returncode"] == 3 and record["cpu_s"] >= 0
    cell = grid.cells()[0]
    with pytest.raises(RuntimeError, match="without writing"):
        CellJob()(cell)
