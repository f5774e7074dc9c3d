"""IEMOCAP preparation of this recipe, from the command line.

The recipe's yamls list ``prepare_iemocap`` of
``speechbrain_ext.dataio.iemocap_prepare`` in their ``data_preparation``,
which train.py runs on the main process before training; all IEMOCAP
recipes of the collection share that implementation. This file runs the
same preparation on its own::

    python iemocap_prepare.py --data_folder /data/IEMOCAP_full_release \
        --save_folder results/prepared --protocol session --fold 1

Authors
 * SpeechBrain IEMOCAP emotion recognition recipe contributors
"""

from speechbrain_ext.dataio.iemocap_prepare import main, prepare_iemocap

__all__ = ["prepare_iemocap"]

if __name__ == "__main__":
    main()
