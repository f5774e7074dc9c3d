"""In-process text-to-speech with the eSpeak NG library.

The library and its voices come from the ``espeakng-loader`` package, so no
system installation is needed. Synthesis is deterministic: the same text,
voice and prosody parameters always give the same samples.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import ctypes
import os
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class Prosody:
    """Prosody parameters of one utterance, in eSpeak NG units.

    Arguments
    ---------
    rate : int
        Speaking rate in words per minute (80-450).
    pitch : int
        Base pitch (0-99).
    pitch_range : int
        Pitch range (0-99): 0 is monotone.
    volume : int
        Amplitude (0-200, 100 is the library default).

    Example
    -------
    >>> Prosody(rate=150, pitch=40, pitch_range=30, volume=80).rate
    150
    """

    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    volume: int = 100


class EspeakSynthesizer:
    """Synthesises speech with eSpeak NG, resampled to ``sample_rate``.

    One instance per process: the library keeps global state.

    Arguments
    ---------
    sample_rate : int
        Output sample rate in Hz.

    Example
    -------
    >>> tts = EspeakSynthesizer(sample_rate=16000)
    >>> wav = tts.synthesize("hello world", voice="en-us+f1")
    >>> wav.dtype, wav.ndim, 0.3 < len(wav) / 16000 < 3.0
    (dtype('float32'), 1, True)
    """

    _lib = None
    _native_rate = None
    _chunks = []

    def __init__(self, sample_rate=16000):
        self.sample_rate = sample_rate
        if EspeakSynthesizer._lib is None:
            EspeakSynthesizer._load()
        gcd = np.gcd(self.sample_rate, self._native_rate)
        self._up = self.sample_rate // gcd
        self._down = self._native_rate // gcd

    @classmethod
    def _load(cls):
        try:
            import espeakng_loader
        except ImportError as err:  # pragma: no cover
            raise ImportError(
                "SynthEmo needs the eSpeak NG library: pip install "
                "espeakng-loader"
            ) from err
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_parent = os.path.dirname(espeakng_loader.get_data_path())
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), 0
        )
        if rate <= 0:
            raise RuntimeError(
                f"eSpeak NG failed to initialise with data in {data_parent}"
            )

        def collect(wav, n_samples, events):
            """Keeps one chunk of synthesised samples (eSpeak callback)."""
            if n_samples > 0:
                cls._chunks.append(
                    np.ctypeslib.as_array(wav, shape=(n_samples,)).copy()
                )
            return 0

        cls._callback = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(cls._callback)
        cls._lib = lib
        cls._native_rate = rate

    def select_voice(self, voice):
        """Loads ``voice`` (and its language's dictionary).

        Arguments
        ---------
        voice : str
            An eSpeak NG voice name with optional variant, e.g. ``en-us+f1``.
        """
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice named {voice!r}")

    def synthesize(self, text, voice, prosody=None, seed=0):
        """Returns the waveform of ``text`` spoken by ``voice``.

        Arguments
        ---------
        text : str
            The text to speak.
        voice : str
            An eSpeak NG voice name with optional variant, e.g. ``en-us+f1``.
        prosody : Prosody, optional
            Rate, pitch, pitch range and volume.
        seed : int
            Seed of the library's random generator (noise sources). The
            library also keeps state between calls, so identical output
            needs the same seed *and* a process that has synthesised
            nothing before (see ``synthemo``).

        Returns
        -------
        numpy.ndarray
            float32 samples in [-1, 1] at ``sample_rate``.
        """
        lib = self._lib
        self.select_voice(voice)
        prosody = prosody or Prosody()
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(ctypes.c_long(int(seed)))
        lib.espeak_SetParameter(_PARAM_RATE, int(prosody.rate), 0)
        lib.espeak_SetParameter(_PARAM_VOLUME, int(prosody.volume), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(prosody.pitch), 0)
        lib.espeak_SetParameter(_PARAM_RANGE, int(prosody.pitch_range), 0)
        self._chunks.clear()
        data = text.encode("utf-8")
        lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None
        )
        lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        wav = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        self._chunks.clear()
        if self._up != self._down:
            wav = resample_poly(wav, self._up, self._down).astype(np.float32)
        return wav
