"""What the benchmark scripts share: the joint recipe and its Brain.

The scripts import the recipe's ``train.py`` as a module, so that they time
the recipe's own ``compute_forward`` and ``fit_batch``.
"""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT"
)


def load_recipe():
    """The joint recipe's ``train.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        "joint_recipe", os.path.join(RECIPE, "train.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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

    from speechbrain_ext.recipe.data import train_loader_options

    kwargs, _ = train_loader_options(
        recipe_datasets["train"],
        hparams["train_dataloader_opts"],
        seed=hparams["seed"],
        sorting=hparams["sorting"],
        dynamic_batching=hparams["dynamic_batching"],
        sampler_opts=hparams["dynamic_batch_sampler"],
    )
    return sb.dataio.dataloader.make_dataloader(
        recipe_datasets["train"], **kwargs
    )
