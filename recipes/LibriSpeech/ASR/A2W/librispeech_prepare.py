"""LibriSpeech preparation for this recipe (train.py runs it from the yaml).

The implementation lives in ``speechbrain_ext.dataio.librispeech_prepare``
so all LibriSpeech recipes of the collection share it. From the command
line::

    python librispeech_prepare.py --data_folder /data/LibriSpeech \
        --save_folder results/prepared \
        --splits train-clean-100 dev-clean test-clean --vocab_top_n 10000

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
