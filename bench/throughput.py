"""Training throughput and peak memory: joint model vs SER-only baseline.

Both recipes use the same speech encoder; each is timed in a process of its
own (so that peak memory is its own) on the same training batches of a
SynthEmo corpus, without augmentation, after a few warm-up steps. Target:
a joint training step costs at most 1.2x a SER-only step.

    python bench/throughput.py [--synthemo_folder data/synthemo] [--steps 40]
"""

import argparse
import json
import os
import resource
import tempfile
import time

from common import RECIPE, build_brain, load_recipe, run_worker

PAIRS = {
    "demo": ("joint_demo.yaml", "ser_demo.yaml"),
}


def measure(yaml_name, synthemo_folder, steps, warmup, work):
    """Times ``steps`` training steps of one recipe; returns a dict."""
    import speechbrain as sb
    import torch
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_ext.recipe.data import run_preparation

    recipe = load_recipe()
    overrides = {
        "output_folder": os.path.join(work, yaml_name),
        "synthemo_folder": synthemo_folder,
        "augment_prob": 0.0,
        "noise_prob": 0.0,
    }
    with open(os.path.join(RECIPE, "hparams", yaml_name)) as f:
        hparams = load_hyperpyyaml(f, overrides)
    run_preparation(hparams["data_preparation"])
    datasets, tokenizer, emo_encoder = recipe.dataio_prepare(hparams)
    # augmentation off: augment_prob and noise_prob are 0
    brain = build_brain(
        recipe, hparams, {"device": "cpu"}, tokenizer, emo_encoder
    )
    sampler = sb.dataio.sampler.DynamicBatchSampler(
        datasets["train"],
        length_func=lambda x: x["duration"],
        **hparams["dynamic_batch_sampler"],
    )
    loader = sb.dataio.dataloader.make_dataloader(
        datasets["train"], batch_sampler=sampler
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    brain.modules.train()
    n_utts = n_seconds = 0
    elapsed = 0.0
    for i, batch in enumerate(loader):
        if i >= warmup + steps:
            break
        start = time.perf_counter()
        brain.fit_batch(batch)
        took = time.perf_counter() - start
        if i >= warmup:
            elapsed += took
            n_utts += len(batch.id)
            lens = batch.sig.lengths * batch.sig.data.shape[1]
            n_seconds += float(lens.sum()) / 16000
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {
        "yaml": yaml_name,
        "steps": steps,
        "seconds_per_step": round(elapsed / steps, 4),
        "utterances_per_second": round(n_utts / elapsed, 1),
        "audio_seconds_per_second": round(n_seconds / elapsed, 1),
        "peak_rss_gb": round(peak_gb, 2),
        "threads": torch.get_num_threads(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthemo_folder", default=None)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pair", default="demo", choices=PAIRS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = measure(
            args.worker,
            args.synthemo_folder,
            args.steps,
            args.warmup,
            args.work,
        )
        print(json.dumps(result))
        return
    work = tempfile.mkdtemp(prefix="throughput_")
    synth = args.synthemo_folder or os.path.join(work, "synthemo")
    results = {}
    for yaml_name in PAIRS[args.pair]:
        results[yaml_name] = run_worker(
            __file__,
            yaml_name,
            *["--synthemo_folder", synth, "--work", work],
            *["--steps", str(args.steps), "--warmup", str(args.warmup)],
        )
    joint, ser = (results[y] for y in PAIRS[args.pair])
    ratio = joint["seconds_per_step"] / ser["seconds_per_step"]
    print(
        json.dumps(
            {
                "joint": joint,
                "ser_only": ser,
                "joint_step_over_ser_step": round(ratio, 3),
                "target_ratio": 1.2,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
