"""Shared code of the joint ASR + SER recipe collection.

The layout mirrors SpeechBrain's own package (``dataio``, ``augment``,
``lobes``, ``nnet``, ``utils``, ``inference``) so that a module can move
upstream with only its import path changed.
"""

__version__ = "0.1.0"
