"""Emo-DB preparation for this recipe (train.py calls it on the main process).

The implementation lives in ``speechbrain_ext.dataio.emodb_prepare`` so all
Emo-DB recipes of the collection share it. From the command line::

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
