"""Wall time, peak memory and results of the A2W demo chain.

Runs, in a fresh work folder (corpus generation included unless
--synthlibri_folder / --synthemo_folder name existing corpora):

1. ``recipes/LibriSpeech/ASR/A2W/train.py hparams/train_demo.yaml``: the A2W
   pre-training on SynthLibri, which exports ``pretrained/``;
2. ``recipes/IEMOCAP/ASR_SER/A2W_attention/train.py hparams/train_demo.yaml``:
   the joint ASR-SER fine-tuning from that export on SynthEmo, with the 7
   noise conditions;
3. with --baselines (all, or some of audio, text, text_asr_transcripts,
   combined, combined_asr_transcripts), the rows of the paper's Table 1
   on the same fold, outside the budget: audio, text and combined, the
   last two with ground-truth transcripts and with the A2W model's
   transcripts at test time.

Prints one JSON object: wall seconds and peak resident memory of each step,
the A2W test WER, the ASR-SER WER/WA/UA per condition and the baselines'.

--decoder_ordering (paper or speechbrain) sets the A2W decoder's ordering in
both yamls (default: the yamls'). --pretrained_path skips step 1 and
fine-tunes from an existing export (its ordering must be the one given),
so that one pre-training serves several fine-tuning seeds.

    python bench/a2w_demo.py [--baselines all] [--seed 1986] [--work DIR]
        [--decoder_ordering paper|speechbrain] [--pretrained_path DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN = os.path.join(ROOT, "recipes", "LibriSpeech", "ASR", "A2W")
FINETUNE = os.path.join(ROOT, "recipes", "IEMOCAP", "ASR_SER", "A2W_attention")
BASELINES = (
    "audio",
    "text",
    "text_asr_transcripts",
    "combined",
    "combined_asr_transcripts",
)
KEYS = ("WER", "CER", "WA", "UA", "macro_F1")


def run_step(name, recipe, yaml, overrides, work):
    """Runs one training script; returns its wall time and peak RSS."""
    cmd = [
        sys.executable,
        os.path.join(recipe, "train.py"),
        os.path.join(recipe, "hparams", yaml),
        *overrides,
    ]
    log_path = os.path.join(work, f"{name}.log")
    start = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - start
    if status != 0:
        with open(log_path) as f:
            sys.stderr.write(f.read()[-4000:])
        sys.exit(f"{name} failed (see {log_path})")
    return {
        "wall_seconds": round(wall, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 2),
    }


def metrics_of(output_folder):
    """Per-condition metrics of a finished run."""
    path = os.path.join(output_folder, "test_results", "metrics.json")
    with open(path) as f:
        metrics = json.load(f)
    return {
        name: {k: round(m[k], 2) for k in KEYS if k in m}
        for name, m in metrics.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default=None, help="folder for the runs")
    parser.add_argument("--seed", type=int, default=1986)
    parser.add_argument("--synthlibri_folder", default=None)
    parser.add_argument("--synthemo_folder", default=None)
    parser.add_argument(
        "--decoder_ordering",
        default=None,
        choices=["paper", "speechbrain"],
        help="A2W decoder ordering of both yamls (default: the yamls')",
    )
    parser.add_argument(
        "--pretrained_path",
        default=None,
        help="an existing A2W export: skip the pre-training",
    )
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=[],
        choices=["all", *BASELINES],
        help="also train these baselines of Table 1",
    )
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="a2w_demo_")
    os.makedirs(work, exist_ok=True)
    libri = args.synthlibri_folder or os.path.join(work, "synthlibri")
    emo = args.synthemo_folder or os.path.join(work, "synthemo")
    seed = f"--seed={args.seed}"
    ordering = []
    if args.decoder_ordering:
        ordering = [f"--decoder_ordering={args.decoder_ordering}"]
    pre_out = os.path.join(work, "pretrain")
    steps = {}
    if args.pretrained_path:
        pretrained = os.path.abspath(args.pretrained_path)
        if not os.path.isfile(os.path.join(pretrained, "dec.ckpt")):
            sys.exit(f"--pretrained_path {pretrained}: no dec.ckpt there")
    else:
        steps["pretrain"] = run_step(
            "pretrain",
            PRETRAIN,
            "train_demo.yaml",
            [
                seed,
                *ordering,
                f"--output_folder={pre_out}",
                f"--synthlibri_folder={libri}",
            ],
            work,
        )
        pretrained = os.path.join(pre_out, "pretrained")
    common = [seed, *ordering, f"--synthemo_folder={emo}"]
    runs = {"asr_ser": ("train_demo.yaml", [f"--pretrained_path={pretrained}"])}
    asr_text = ["--test_text=asr", f"--pretrained_path={pretrained}"]
    for name in BASELINES:
        if name in args.baselines or "all" in args.baselines:
            yaml = name.split("_")[0] + "_baseline_demo.yaml"
            runs[name] = (yaml, asr_text if "asr" in name else [])
    results = {}
    for name, (yaml, extra) in runs.items():
        out = os.path.join(work, name)
        steps[name] = run_step(
            name,
            FINETUNE,
            yaml,
            [*common, *extra, f"--output_folder={out}"],
            work,
        )
        results[name] = metrics_of(out)
    chain = [steps[k] for k in ("pretrain", "asr_ser") if k in steps]
    budget = sum(step["wall_seconds"] for step in chain)
    peak = max(step["peak_rss_gb"] for step in chain)
    report = {
        "seed": args.seed,
        "decoder_ordering": args.decoder_ordering or "yaml default",
        "pretrained_path": pretrained,
        "steps": steps,
        "pretrain_plus_finetune": {
            "wall_seconds": round(budget, 1),
            "peak_rss_gb": peak,
        },
        "targets": {"wall_seconds": 900, "peak_rss_gb": 3.0},
        "a2w_test": None if args.pretrained_path else metrics_of(pre_out),
        "results": results,
        "work": work,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
