"""Wall time, peak memory and results of the embedded demo (README command 1).

Runs ``train.py hparams/joint_demo.yaml`` (SynthEmo generation included
unless the corpus already exists in --synthemo_folder) in a fresh output
folder and prints one JSON object: wall seconds, peak resident memory of the
training process, the clean-condition metrics and the targets.

    python bench/demo.py [--yaml joint_demo.yaml] [--keep_corpus]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--yaml", default="joint_demo.yaml")
    parser.add_argument(
        "--work", default=None, help="folder for the runs (a new run_* each)"
    )
    parser.add_argument("--synthemo_folder", default=None)
    parser.add_argument("overrides", nargs="*", help="extra --key=value")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="demo_bench_")
    os.makedirs(work, exist_ok=True)
    # a fresh output folder: a run left by an earlier call is kept
    out = tempfile.mkdtemp(prefix="run_", dir=work)
    synth = args.synthemo_folder or os.path.join(work, "synthemo")
    cmd = [
        sys.executable,
        os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", args.yaml),
        f"--output_folder={out}",
        f"--synthemo_folder={synth}",
        *args.overrides,
    ]
    start = time.time()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        sys.exit(proc.returncode)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(os.path.join(out, "test_results", "metrics.json")) as f:
        metrics = json.load(f)
    table = open(os.path.join(out, "test_results", "results.md")).read()
    keys = ("WER", "CER", "WA", "UA", "macro_F1")
    result = {
        "yaml": args.yaml,
        "wall_seconds": round(wall, 1),
        "peak_rss_gb": round(peak_kb / 1024**2, 2),
        "conditions": {
            name: {k: round(m[k], 2) for k in keys if k in m}
            for name, m in metrics.items()
        },
        "targets": {"wall_seconds": 600, "peak_rss_gb": 3.0, "clean_WER": 20.0},
        "output_folder": out,
    }
    print(json.dumps(result, indent=2))
    print(table, file=sys.stderr)


if __name__ == "__main__":
    main()
