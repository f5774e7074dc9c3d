"""Inference real-time factor: joint model vs ASR-only + SER-only models.

The joint model gives transcript and emotion in one pass; the baselines need
two models run one after the other. Each model transcribes/classifies the
same files (the joint run's test set by default) through the inference
interface, after one warm-up batch. Target: joint RTF at most 0.6x the sum
of the two baselines' RTFs.

    python bench/inference_rtf.py --joint results/joint_demo/1986 \
        --asr results/asr_demo/1986 --ser results/ser_demo/1986
"""

import argparse
import json
import os
import time

import soundfile as sf

from speechbrain_ext.inference import load_model


def rtf(run, files, batch_size, repeats):
    model = load_model(run)
    model.classify_files(files[:batch_size], batch_size, progress=False)
    audio = sum(sf.info(f).duration for f in files)
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        model.classify_files(files, batch_size, progress=False)
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return {
        "run": run,
        "seconds": round(best, 3),
        "rtf": round(best / audio, 5),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--joint", required=True)
    parser.add_argument("--asr", required=True)
    parser.add_argument("--ser", required=True)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max_files", type=int, default=200)
    args = parser.parse_args()
    with open(os.path.join(args.joint, "prepared", "test.json")) as f:
        files = [e["wav"] for e in json.load(f).values()][: args.max_files]
    joint = rtf(args.joint, files, args.batch_size, args.repeats)
    asr = rtf(args.asr, files, args.batch_size, args.repeats)
    ser = rtf(args.ser, files, args.batch_size, args.repeats)
    pair = asr["rtf"] + ser["rtf"]
    print(
        json.dumps(
            {
                "files": len(files),
                "joint": joint,
                "asr_only": asr,
                "ser_only": ser,
                "joint_rtf_over_pair_rtf": round(joint["rtf"] / pair, 3),
                "target_ratio": 0.6,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
