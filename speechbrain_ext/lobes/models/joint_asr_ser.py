"""Forward pass of a joint CTC ASR + emotion model.

Shared by the training recipes and the inference interface:
:func:`joint_forward` is the family's forward function (the one that
``inference.yaml`` names), :func:`joint_asr_ser_forward` the computation.

The model is a set of modules, any of which but the encoder may be absent:

* ``encoder``: waveforms and relative lengths -> frame embeddings
  (SpeechBrain's ``Wav2Vec2``, or any module with that interface);
* ``asr_enc`` (optional): frame embeddings -> ASR frame features (the DNN
  that SpeechBrain's wav2vec2 CTC recipes put before the CTC layer);
* ``ctc_lin``: ASR frame features (or frame embeddings) -> CTC logits
  (ASR head);
* ``text_embedding``: list of strings -> one embedding per string (BERT);
* ``fusion``: (acoustic, text) embeddings -> fused embedding;
* ``emo_classifier``: fused (or acoustic) embedding -> emotion logits.

With ``ctc_lin`` only it is an ASR model, with ``emo_classifier`` only an
SER model (acoustic embedding -> classifier), with all of them the joint
model of Bansal et al. (2023), whose text encoder reads the ASR hypothesis.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import length_to_mask


def ctc_greedy_transcripts(p_ctc, wav_lens, tokenizer, blank_index=0):
    """Greedy CTC decoding of character posteriors into lists of words.

    The best token of each frame, repeats merged, blanks and padding frames
    dropped; the token ids are then turned into text by the tokenizer: a
    SpeechBrain ``CTCTextEncoder`` (characters, joined as they are), or a
    transformers CTC tokenizer (``Wav2Vec2CTCTokenizer`` of a pretrained
    model: its word delimiter ``|`` separates words; its special tokens
    ``<s>``, ``</s>``, ``<unk>`` are dropped once the repeats are merged,
    so that they separate repeats as any other token does).

    Arguments
    ---------
    p_ctc : torch.Tensor
        Log-probabilities [batch, frames, tokens].
    wav_lens : torch.Tensor
        Relative lengths.
    tokenizer : CTCTextEncoder or transformers.Wav2Vec2CTCTokenizer
        Token decoder; outputs beyond its size are dropped.
    blank_index : int
        Index of the CTC blank.

    Returns
    -------
    list of list of str
        The words of each utterance.

    Example
    -------
    >>> import torch
    >>> from speechbrain.dataio.encoder import CTCTextEncoder
    >>> tok = CTCTextEncoder()
    >>> tok.update_from_iterable(["A", "B", " "])
    >>> tok.insert_blank(index=0)
    >>> ids = [tok.lab2ind[c] for c in "AB BA"]
    >>> frames = [ids[0], 0, ids[1], ids[2], ids[3], ids[4]]
    >>> p = torch.nn.functional.one_hot(torch.tensor([frames]), 5).float()
    >>> ctc_greedy_transcripts(p.log(), torch.ones(1), tok)
    [['AB', 'BA']]
    """
    # Batched on the device; one transfer of the kept frames to the host
    best = p_ctc.detach().argmax(-1)
    n_frames = best.shape[1]
    lengths = torch.round(wav_lens.to(best.device) * n_frames).long()
    keep = length_to_mask(lengths, n_frames, dtype=torch.bool)
    keep &= best != blank_index
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    best, keep = torch.stack([best, keep.long()]).cpu()
    n_tokens = len(tokenizer)
    sequences = [
        [i for i in row[mask.bool()].tolist() if i < n_tokens]
        for row, mask in zip(best, keep)
    ]
    if hasattr(tokenizer, "decode_ndim"):  # SpeechBrain's CTCTextEncoder
        texts = ["".join(seq) for seq in tokenizer.decode_ndim(sequences)]
    else:  # transformers: the repeats are merged already
        texts = tokenizer.batch_decode(
            sequences, group_tokens=False, skip_special_tokens=True
        )
    return [t.split() for t in texts]


def joint_asr_ser_forward(
    modules,
    wavs,
    wav_lens,
    log_softmax,
    pooling=None,
    tokenizer=None,
    blank_index=0,
    texts=None,
    decode=True,
):
    """Runs the heads that ``modules`` holds.

    The emotion head pools the encoder frames (``pooling``) and fuses the
    pooled vector with the text embedding, unless the fusion module works on
    frames: a fusion with ``frame_level = True`` receives the frames, their
    relative lengths and the text embedding, and pools itself
    (``fusion(feats, feat_lens, text_emb)``).

    Arguments
    ---------
    modules : dict-like
        ``encoder`` and any of ``asr_enc``, ``ctc_lin``, ``text_embedding``,
        ``fusion``, ``emo_classifier``. The emotion head reads the encoder
        frames, not the output of ``asr_enc``.
    wavs : torch.Tensor
        Waveforms [batch, time].
    wav_lens : torch.Tensor
        Relative lengths.
    log_softmax : callable
        Turns logits into log-probabilities.
    pooling : callable, optional
        ``pooling(feats, lens)`` -> [batch, 1, dim]; needed by the emotion
        head unless its fusion is frame-level.
    tokenizer : CTCTextEncoder, optional
        Needed to decode hypotheses.
    blank_index : int
        Index of the CTC blank.
    texts : list of str, optional
        What the text encoder reads instead of the hypotheses (e.g. the true
        transcripts during training).
    decode : bool
        Whether to decode hypotheses (always done when the text encoder
        needs them).

    Returns
    -------
    dict
        ``feat_lens`` (relative lengths of the encoder frames), ``p_ctc``
        and ``hyps`` (lists of words) for an ASR head, ``p_emo``
        (log-probabilities) for an emotion head.

    Example
    -------
    >>> import torch
    >>> from speechbrain.nnet.pooling import StatisticsPooling
    >>> from speechbrain.nnet.activations import Softmax
    >>> class Frames(torch.nn.Module):
    ...     def forward(self, wav, lens):
    ...         return wav.view(wav.shape[0], -1, 8)
    >>> modules = {"encoder": Frames(),
    ...            "emo_classifier": torch.nn.Linear(8, 4)}
    >>> out = joint_asr_ser_forward(
    ...     modules, torch.rand(2, 80), torch.ones(2),
    ...     log_softmax=Softmax(apply_log=True),
    ...     pooling=StatisticsPooling(return_std=False))
    >>> sorted(out), out["p_emo"].shape
    (['feat_lens', 'p_emo'], torch.Size([2, 4]))
    """
    encoder = modules["encoder"]
    feats = encoder(wavs, wav_lens)
    # Encoders that know their exact output lengths (FbankEncoder) give them,
    # so that decoding and pooling see exactly the frames that hold signal.
    exact = getattr(
        getattr(encoder, "module", encoder), "relative_frame_lengths", None
    )
    if exact is not None:
        wav_lens = exact(wav_lens, wavs.shape[1], feats.shape[1])
    out = {"feat_lens": wav_lens}
    has_text = "text_embedding" in modules
    if "ctc_lin" in modules:
        asr_feats = feats
        if "asr_enc" in modules:
            asr_feats = modules["asr_enc"](feats)
        out["p_ctc"] = log_softmax(modules["ctc_lin"](asr_feats))
        if decode or (has_text and texts is None):
            out["hyps"] = ctc_greedy_transcripts(
                out["p_ctc"], wav_lens, tokenizer, blank_index
            )
    if "emo_classifier" in modules:
        fusion = modules["fusion"] if "fusion" in modules else None
        frame_level = getattr(
            getattr(fusion, "module", fusion), "frame_level", False
        )
        if not frame_level:
            if pooling is None:
                raise ValueError(
                    "The emotion head pools the encoder frames: pass pooling"
                )
            # pooled before the text is encoded: both draw random numbers
            # in training (pooling noise, dropout), in this order
            embedding = pooling(feats, wav_lens).squeeze(1)
        text_emb = None
        if has_text:
            if texts is None:
                texts = [" ".join(words) for words in out["hyps"]]
            text_emb = modules["text_embedding"](texts)
        if frame_level:
            embedding = fusion(feats, wav_lens, text_emb)
        elif fusion is not None:
            embedding = fusion(embedding, text_emb)
        out["p_emo"] = log_softmax(modules["emo_classifier"](embedding))
    return out


def joint_forward(
    modules,
    hparams,
    wavs,
    wav_lens,
    stage=sb.Stage.TEST,
    tokenizer=None,
    texts=None,
):
    """The joint family's forward function, in the collection's signature.

    Also that of the ASR-only and SER-only baselines of the joint recipe.

    Arguments
    ---------
    modules : dict-like
        The yaml's ``modules`` (see :func:`joint_asr_ser_forward`).
    hparams : object
        Attribute access to the yaml's keys: ``log_softmax``, and
        ``pooling`` and ``blank_index`` where the yaml has them.
    wavs : torch.Tensor
        Waveforms [batch, time].
    wav_lens : torch.Tensor
        Relative lengths.
    stage : speechbrain.Stage
        Hypotheses are decoded outside ``TRAIN`` (and in ``TRAIN`` when the
        text encoder reads them).
    tokenizer : speechbrain.dataio.encoder.CTCTextEncoder, optional
        The character tokenizer the recipe saves in
        ``<save_folder>/tokenizer.txt``; needed to decode the hypotheses of
        a CTC head (an error names it when it is missing).
    texts : list of str, optional
        What the text encoder reads instead of the hypotheses (the true
        transcripts in training, with ``bert_input: wrd``).

    Returns
    -------
    dict
        The prediction contract: ``p_emo`` (emotion log-probabilities) with
        an emotion head, ``hyps`` (lists of words) with a CTC head, and the
        recipe's own ``p_ctc`` and ``feat_lens`` for its loss.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.nnet.activations import Softmax
    >>> from speechbrain.nnet.pooling import StatisticsPooling
    >>> class Frames(torch.nn.Module):
    ...     def forward(self, wav, lens):
    ...         return wav.view(wav.shape[0], -1, 8)
    >>> modules = {"encoder": Frames(),
    ...            "emo_classifier": torch.nn.Linear(8, 4)}
    >>> hparams = SimpleNamespace(
    ...     log_softmax=Softmax(apply_log=True),
    ...     pooling=StatisticsPooling(return_std=False))
    >>> out = joint_forward(
    ...     modules, hparams, torch.rand(2, 80), torch.ones(2))
    >>> out["p_emo"].shape
    torch.Size([2, 4])
    """
    decode = stage != sb.Stage.TRAIN
    needs_text = "text_embedding" in modules and texts is None
    if "ctc_lin" in modules and tokenizer is None and (decode or needs_text):
        raise ValueError(
            "The CTC head's hypotheses are decoded with the character "
            "tokenizer: pass tokenizer= (the CTCTextEncoder the recipe saves "
            "in <save_folder>/tokenizer.txt; for inference, a tokenizer "
            "entry of the export's context)."
        )
    return joint_asr_ser_forward(
        modules,
        wavs,
        wav_lens,
        log_softmax=hparams.log_softmax,
        pooling=getattr(hparams, "pooling", None),
        tokenizer=tokenizer,
        blank_index=getattr(hparams, "blank_index", 0),
        texts=texts,
        decode=decode,
    )
