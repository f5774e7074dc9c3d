"""IEMOCAP preparation shared by the IEMOCAP recipes (symlinked into each).

The recipes' yamls list ``prepare_iemocap`` of
``speechbrain_ext.dataio.iemocap_prepare`` in their ``data_preparation``,
which each ``train.py`` runs on the main process before training. This file
runs the same preparation on its own, with the protocol of the recipe (see
its README)::

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
