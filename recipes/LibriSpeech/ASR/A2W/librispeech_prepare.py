"""LibriSpeech preparation of this recipe, from the command line.

The recipe's yamls list ``prepare_librispeech`` of
``speechbrain_ext.dataio.librispeech_prepare`` in their
``data_preparation``, which train.py runs on the main process before
training (train.py then builds the word vocabulary from the training
manifest); all LibriSpeech recipes of the collection share that
implementation. This file runs the same preparation on its own::

    python librispeech_prepare.py --data_folder /data/LibriSpeech \
        --save_folder results/prepared \
        --splits train-clean-100 dev-clean test-clean

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

from speechbrain_ext.dataio.librispeech_prepare import (
    main,
    prepare_librispeech,
)

__all__ = ["prepare_librispeech"]

if __name__ == "__main__":
    main()
