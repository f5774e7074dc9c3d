"""Training losses in float32 and in bf16 autocast, step by step.

Trains the same recipe twice from the same seed on the same batches (the
first ``--steps`` steps of its shuffled training loader), once with
``--precision=fp32`` and once with ``--precision=bf16``, and prints one
JSON object with both loss curves (means over windows of 20 steps) and
their largest relative difference.

    python bench/precision_losses.py [--yaml joint_demo.yaml] [--steps 200]
"""

import argparse
import json
import os
import tempfile

from common import (
    RECIPE,
    build_brain,
    load_recipe,
    run_worker,
    train_loader,
)


def losses(yaml_name, precision, steps, device, work, synthemo_folder):
    """Per-step training losses of one run (in a process of its own)."""
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_ext.recipe.data import run_preparation

    recipe = load_recipe()
    overrides = {"output_folder": os.path.join(work, precision)}
    if synthemo_folder:
        overrides["synthemo_folder"] = synthemo_folder
    with open(os.path.join(RECIPE, "hparams", yaml_name)) as f:
        hparams = load_hyperpyyaml(f, overrides)
    run_preparation(hparams["data_preparation"])
    datasets, tokenizer, emo_encoder = recipe.dataio_prepare(hparams)
    brain = build_brain(
        recipe,
        hparams,
        {"device": device, "precision": precision},
        tokenizer,
        emo_encoder,
    )
    loader = train_loader(datasets, hparams)
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    brain.modules.train()
    out = []
    while len(out) < steps:
        for batch in loader:
            out.append(float(brain.fit_batch(batch)))
            if len(out) == steps:
                break
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--yaml", default="joint_demo.yaml")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--synthemo_folder", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(
                losses(
                    args.yaml,
                    args.worker,
                    args.steps,
                    args.device,
                    args.work,
                    args.synthemo_folder,
                )
            )
        )
        return
    work = tempfile.mkdtemp(prefix="precision_")
    curves = {}
    for precision in ("fp32", "bf16"):
        options = ["--work", work, "--yaml", args.yaml]
        options += ["--steps", str(args.steps), "--device", args.device]
        if args.synthemo_folder:
            options += ["--synthemo_folder", args.synthemo_folder]
        curves[precision] = run_worker(__file__, precision, *options)
    window = 20
    means = {
        p: [
            round(sum(c[i : i + window]) / len(c[i : i + window]), 4)
            for i in range(0, len(c), window)
        ]
        for p, c in curves.items()
    }
    rel = [abs(a - b) / abs(a) for a, b in zip(means["fp32"], means["bf16"])]
    print(
        json.dumps(
            {
                "yaml": args.yaml,
                "device": args.device,
                "steps": args.steps,
                f"mean_loss_per_{window}_steps": means,
                "max_relative_difference_of_window_means": round(max(rel), 4),
                "last_window_relative_difference": round(rel[-1], 4),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
