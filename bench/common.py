"""What the benchmark scripts share: the joint recipe and its Brain.

The scripts import the recipe's ``train.py`` as a module, so that they time
the recipe's own ``compute_forward`` and ``fit_batch``.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT"
)


def load_recipe():
    """The joint recipe's ``train.py`` as a module."""
    from speechbrain_ext.recipe.experiment import load_recipe_module

    return load_recipe_module(os.path.join(RECIPE, "train.py"), "joint_recipe")


def build_brain(recipe, hparams, run_opts, tokenizer=None, emo_encoder=None):
    """The recipe's Brain as its ``__main__`` builds it, without a
    checkpointer (nothing is written)."""
    brain = recipe.JointCTCBertBrain(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=None,
        param_groups=hparams["param_groups"],
        train_augment=hparams["train_augment"],
    )
    brain.tokenizer, brain.emo_encoder = tokenizer, emo_encoder
    return brain


def train_loader(recipe_datasets, hparams):
    """The recipe's training loader (ordering, batching, workers)."""
    import speechbrain as sb

    from speechbrain_ext.recipe.data import recipe_loader_options

    kwargs, _ = recipe_loader_options(recipe_datasets["train"], hparams)
    return sb.dataio.dataloader.make_dataloader(
        recipe_datasets["train"], **kwargs
    )


def run_worker(script, *args):
    """Runs ``script --worker ...`` in a fresh process (models offline).

    Each measurement gets its own process, so that one configuration's
    memory and threads do not reach the next. Exits with the end of the
    worker's stderr when it fails.

    Returns the JSON value of the last line the worker printed.
    """
    proc = subprocess.run(
        [sys.executable, script, "--worker", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])
