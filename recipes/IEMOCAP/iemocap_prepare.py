"""IEMOCAP preparation shared by the IEMOCAP recipes (symlinked into each).

Each recipe's ``train.py`` runs it on the main process, from its yaml's
``data_preparation``. The implementation lives in
``speechbrain_ext.dataio.iemocap_prepare``. From the command line, with the
protocol of the recipe (see its README)::

    python iemocap_prepare.py --data_folder /data/IEMOCAP_full_release \
        --save_folder results/prepared --protocol speaker --fold 1

Authors
 * SpeechBrain joint ASR/SER recipe contributors
 * SpeechBrain IEMOCAP emotion recognition recipe contributors
"""

from speechbrain_ext.dataio.iemocap_prepare import main, prepare_iemocap

__all__ = ["prepare_iemocap"]

if __name__ == "__main__":
    main()
