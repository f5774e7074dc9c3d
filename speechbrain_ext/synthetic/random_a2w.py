r"""A randomly initialised A2W export, for tests and dry runs.

The joint A2W recipe loads a pre-trained A2W model from the folder that the
LibriSpeech pre-training exports (``normalize.ckpt``, ``enc.ckpt``,
``emb.ckpt``, ``dec.ckpt``, ``seq_lin.ckpt`` and ``vocabulary.txt``).
:func:`build_random_a2w` writes such a folder with random weights of the
dimensions of a recipe yaml, so that the recipe runs before (or without) a
pre-training: the recipe tests, the full-size one-step check.

From a shell (used by the setup scripts of the recipe tests)::

    python -m speechbrain_ext.synthetic.random_a2w \
        --hparams recipes/IEMOCAP/ASR_SER/A2W_attention/hparams/train.yaml \
        --output tests/tmp/a2w_full --words_from tests/samples/annotation

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import glob
import json
import os
import re

import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_ext.dataio.iemocap_prepare import (
    normalize_transcript,
    read_transcriptions,
)
from speechbrain_ext.dataio.word_tokens import EOS, UNK, word_vocabulary
from speechbrain_ext.lobes.models.a2w import (
    PRETRAINED_MODULES,
    export_pretrained,
)

TINY_YAML = """
data_folder: null
pretrained_path: null
n_mels: 4
output_neurons: 4
normalize: !new:speechbrain.processing.features.InputNormalization
  norm_type: global
enc: !new:speechbrain_ext.lobes.models.a2w.A2WEncoder
  input_size: 4
  hidden_size: 3
  num_layers: 1
emb: !new:speechbrain.nnet.embedding.Embedding
  num_embeddings: 4
  embedding_dim: 2
dec: !new:torch.nn.Linear [2, 2]
seq_lin: !new:torch.nn.Linear [2, 4]
"""
"""The smallest yaml with an A2W model's parts (for the examples)."""


def corpus_words(folder):
    """Words of the transcripts under ``folder``, most frequent first.

    Reads JSON manifests (``wrd`` fields) and IEMOCAP transcription files
    (``*/dialog/transcriptions/*.txt``, normalised as the IEMOCAP
    preparation does).

    Arguments
    ---------
    folder : str
        A folder of manifests or an ``IEMOCAP_full_release`` folder.

    Returns
    -------
    list of str
        The distinct words, by decreasing count then alphabetically.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "a.json"), "w") as f:
    ...     json.dump({"u": {"wrd": "B A B"}}, f)
    >>> corpus_words(folder)
    ['B', 'A']
    """
    counts = {}
    texts = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path, encoding="utf-8") as f:
            texts += [e.get("wrd", "") for e in json.load(f).values()]
    pattern = os.path.join(folder, "*", "dialog", "transcriptions", "*.txt")
    for path in sorted(glob.glob(pattern)):
        raw = read_transcriptions(path).values()
        texts += [normalize_transcript(text) for text in raw]
    for text in texts:
        for word in text.split():
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def build_random_a2w(hparams_file, output, words=(), overrides=None, seed=0):
    """Writes a random A2W export with the dimensions of a recipe yaml.

    Arguments
    ---------
    hparams_file : str
        A yaml with the A2W modules (``normalize``, ``enc``, ``emb``,
        ``dec``, ``seq_lin``) and ``output_neurons``.
    output : str
        The export folder (created; an existing export is kept).
    words : list of str
        Words put first in the vocabulary (e.g. those of the fine-tuning
        corpus); ``W<i>`` fill the rest up to ``output_neurons - 2``.
    overrides : dict, optional
        Overrides of the yaml (dimensions); its ``data_folder``,
        ``pretrained_path`` and ``musan_folder`` default to ``output``.
    seed : int
        Seed of the random weights.

    Returns
    -------
    str
        The export folder.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> yaml = os.path.join(folder, "tiny.yaml")
    >>> with open(yaml, "w") as f:
    ...     _ = f.write(TINY_YAML)
    >>> out = build_random_a2w(yaml, os.path.join(folder, "pretrained"),
    ...                        words=["HELLO"])
    >>> sorted(os.listdir(out))
    ['dec.ckpt', 'emb.ckpt', 'enc.ckpt', 'normalize.ckpt', 'seq_lin.ckpt', \
'vocabulary.txt']
    >>> from speechbrain_ext.dataio.word_tokens import load_word_vocabulary
    >>> vocabulary = load_word_vocabulary(os.path.join(out, "vocabulary.txt"))
    >>> vocabulary.decode_ndim(range(len(vocabulary)))
    ['<unk>', 'HELLO', 'W0', '<eos>']
    """
    if os.path.isfile(os.path.join(output, "vocabulary.txt")):
        return output
    with open(hparams_file, encoding="utf-8") as fin:
        text = fin.read()
    overrides = dict(overrides or {})
    # the yaml's placeholders: only the A2W modules are built
    for key in ("data_folder", "pretrained_path", "musan_folder"):
        if re.search(rf"^{key}:", text, re.M):
            overrides.setdefault(key, output)
    hparams = load_hyperpyyaml(text, overrides)
    torch.manual_seed(seed)
    n_words = hparams["output_neurons"] - 2
    vocabulary = [w for w in dict.fromkeys(words) if w not in (UNK, EOS)]
    vocabulary = vocabulary[:n_words]
    vocabulary += [f"W{i}" for i in range(n_words - len(vocabulary))]
    modules = {name: hparams[name] for name in PRETRAINED_MODULES}
    # global statistics of normalised features: mean 0, std 1
    feats = torch.randn(4, 200, hparams["n_mels"])
    modules["normalize"](feats, torch.ones(4))
    export_pretrained(modules, output, word_vocabulary(vocabulary, eos=True))
    return output


def main(argv=None):
    """Builds the export asked for on the command line (idempotent).

    Arguments
    ---------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    str
        The export folder.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> yaml = os.path.join(folder, "tiny.yaml")
    >>> with open(yaml, "w") as f:
    ...     _ = f.write(TINY_YAML)
    >>> out = main(["--hparams", yaml, "--output", folder + "/a2w"])
    >>> os.path.isfile(os.path.join(out, "enc.ckpt"))
    True
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hparams", required=True, help="recipe yaml")
    parser.add_argument("--output", required=True, help="export folder")
    parser.add_argument(
        "--words_from", default=None, help="folder of manifests or IEMOCAP"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    words = corpus_words(args.words_from) if args.words_from else []
    return build_random_a2w(args.hparams, args.output, words, seed=args.seed)


if __name__ == "__main__":
    print(main())
