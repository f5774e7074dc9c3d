"""IEMOCAP preparation for this recipe (train.py calls it on the main process).

The implementation lives in ``speechbrain_ext.dataio.iemocap_prepare`` so all
IEMOCAP recipes of the collection share it. From the command line::

    python iemocap_prepare.py --data_folder /data/IEMOCAP_full_release \
        --save_folder results/prepared --protocol speaker --fold 1

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

from speechbrain_ext.dataio.iemocap_prepare import main, prepare_iemocap

__all__ = ["prepare_iemocap"]

if __name__ == "__main__":
    main()
