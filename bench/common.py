"""What the benchmark scripts share: the joint recipe and its Brain.

The scripts import the recipe's ``train.py`` as a module, so that they time
the recipe's own ``compute_forward`` and ``fit_batch``.
"""

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
