"""Embedded corpora and offline models, for machines without licensed data.

The SynthEmo, SynthNoise, SynthEmoDB and SynthLibri (LibriSpeech layout)
generators, the eSpeak NG binding they use, builders of small local
wav2vec2/BERT folders, and the modality check of a generated corpus. None
of this is meant to move upstream; the rest of ``speechbrain_ext`` is.
"""
