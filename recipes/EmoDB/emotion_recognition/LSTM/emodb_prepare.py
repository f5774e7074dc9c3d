"""Emo-DB preparation of this recipe, from the command line.

The recipe's yamls list ``prepare_emodb`` of
``speechbrain_ext.dataio.emodb_prepare`` in their ``data_preparation``,
which train.py runs on the main process before training; all Emo-DB
recipes of the collection share that implementation. This file runs the
same preparation on its own::

    python emodb_prepare.py --data_folder /data/emodb \
        --save_folder results/prepared --protocol speakers \
        --valid_speakers 15 --test_speakers 16

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

from speechbrain_ext.dataio.emodb_prepare import main, prepare_emodb

__all__ = ["prepare_emodb"]

if __name__ == "__main__":
    main()
