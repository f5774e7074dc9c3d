"""The pieces of the training step that the GPU throughput work changed."""

import os

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.encoder import CTCTextEncoder

from speechbrain_ext.lobes.models.joint_asr_ser import ctc_greedy_transcripts
from speechbrain_ext.recipe.data import train_loader_options

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
HPARAMS = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT", "hparams"
)


def _reference_transcripts(p_ctc, lens, tokenizer):
    """SpeechBrain's own greedy decoder, then the same text clean-up."""
    sequences = sb.decoders.ctc_greedy_decode(p_ctc, lens, blank_id=0)
    sequences = [[i for i in s if i < len(tokenizer)] for s in sequences]
    return [t.split() for t in map("".join, tokenizer.decode_ndim(sequences))]


def test_batched_greedy_decoding_matches_speechbrains_decoder():
    tokenizer = CTCTextEncoder()
    tokenizer.update_from_iterable(list("ABCDE "))
    tokenizer.insert_blank(index=0)
    tokenizer.ignore_len()
    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        n_frames = int(torch.randint(1, 50, (1,), generator=gen))
        # two classes more than the tokenizer knows: they are dropped
        logits = torch.randn(5, n_frames, len(tokenizer) + 2, generator=gen)
        logits[..., 0] += 2 * torch.rand(1, generator=gen)
        lens = torch.rand(5, generator=gen)
        lens[0] = 1.0
        p_ctc = logits.log_softmax(-1)
        assert ctc_greedy_transcripts(
            p_ctc, lens, tokenizer
        ) == _reference_transcripts(p_ctc, lens, tokenizer)


def test_runaway_hypotheses_are_cut_before_bert():
    import tempfile

    from speechbrain.integrations.huggingface.textencoder import TextEncoder

    from speechbrain_ext.lobes.models.text_encoder import PooledTextEncoder
    from speechbrain_ext.synthetic.offline_models import minilm_path

    bert = TextEncoder(minilm_path(), save_path=tempfile.mkdtemp())
    # a character nearly every frame of a 30 s utterance: more wordpieces
    # than BERT has positions
    runaway = " ".join(["QXZ" + "RT" * 3] * 700)
    encoder = PooledTextEncoder(bert, max_tokens=128)
    assert encoder.tokenize([runaway, "HELLO"])["input_ids"].shape == (2, 128)
    out = encoder([runaway, "HELLO"])
    assert out.shape == (2, 384) and torch.isfinite(out).all()
    # without a limit of its own, the model's limit (512 positions) holds
    unlimited = PooledTextEncoder(bert, max_tokens=None)
    assert unlimited.tokenize([runaway])["input_ids"].shape[1] == 512


def test_dynamic_batches_keep_the_loader_options():
    data = [{"duration": d} for d in (1.0, 2.0, 3.0, 4.0)]
    from speechbrain.dataio.dataset import DynamicItemDataset

    dataset = DynamicItemDataset({str(i): d for i, d in enumerate(data)})
    kwargs, sampler = train_loader_options(
        dataset,
        {
            "batch_size": 4,
            "shuffle": False,
            "num_workers": 3,
            "pin_memory": True,
        },
        seed=1,
        sorting="random",
        dynamic_batching=True,
        sampler_opts={"max_batch_length": 5.0, "num_buckets": 2},
    )
    assert kwargs["num_workers"] == 3 and kwargs["pin_memory"] is True
    assert "batch_size" not in kwargs and "shuffle" not in kwargs
    assert kwargs["batch_sampler"] is sampler


@pytest.mark.parametrize("yaml_name", ["joint.yaml", "ser_baseline.yaml"])
def test_full_size_yamls_turn_off_cudnn_attention(yaml_name, tmp_path):
    torch.backends.cuda.enable_cudnn_sdp(True)
    with open(os.path.join(HPARAMS, yaml_name)) as f:
        text = f.read()
    # everything but the models (which need a download)
    text = text[: text.index("\nencoder:")]
    load_hyperpyyaml(text, {"data_folder": "x", "musan_folder": "y"})
    assert not torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(True)
