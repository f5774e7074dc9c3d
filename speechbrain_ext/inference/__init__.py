r"""Inference with the trained model of any recipe of the collection.

Every recipe's ``train.py`` ends with :func:`export_for_inference`, which
writes ``inference.yaml`` (naming the family's forward function and the
files it needs) and ``custom_interface.py`` into the run folder; one
interface, :class:`RecipeInterface`, then loads any run::

    from speechbrain.inference.interfaces import foreign_class
    model = foreign_class(
        source="results/joint_demo/1986", hparams_file="inference.yaml",
        pymodule_file="custom_interface.py", classname="RecipeInterface")
    out_prob, score, index, text_lab, transcripts = model.classify_file(
        "a.wav")
    model.classify_files(["a.wav", "b.flac"])

or :func:`load_model` (which also loads a moved or read-only run folder),
or from the command line::

    python -m speechbrain_ext.inference \
        --model results/joint_demo/1986 --output predictions.csv *.wav

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

from speechbrain_ext.inference.export import (
    ContextFile,
    check_run_folder,
    export_for_inference,
    load_model,
)
from speechbrain_ext.inference.interface import RecipeInterface, audio_problem

__all__ = [
    "ContextFile",
    "RecipeInterface",
    "audio_problem",
    "check_run_folder",
    "export_for_inference",
    "load_model",
]
