"""Architectures of the DSI network (``dsi.model.arch``), one registry entry each (:data:`ARCHS`).

* ``t5`` -- ``transformers``' ``T5ForConditionalGeneration`` (Raffel et al. 2020): from scratch over a word
  vocabulary of the collection, or a local pretrained T5 (``dsi.model.pretrained``).  Encoder input, decoder input
  and output share one vocabulary: text tokens ``[0, id_offset)``, then the id tokens; T5's ``<pad>`` starts the
  decoder.
* ``bert`` -- an ``EncoderDecoderModel`` (Rothe et al. 2020, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks", TACL: a BERT checkpoint warm-starts the encoder) whose encoder is the registered checkpoint's
  ``BertModel`` (``dsi.model.checkpoint``, sha256-verified by :mod:`irprune.weights`, offline; first
  ``keep_layers`` layers) read through the checkpoint's own WordPiece tokenizer (``[CLS] text [SEP]``), and whose
  decoder is a small ``BertLMHeadModel`` trained from scratch (causal self-attention plus cross-attention, hidden
  size = the encoder's, so no projection) over a vocabulary of only ``<pad>`` 0, ``</s>`` 1, the decoder start 2
  and the id tokens from 3; its output layer is tied to its input embedding, as T5's.

Each :class:`Arch` builds a network (and the input tokenizer), rebuilds one from its stored config and names
the decoder's special tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from .config import DSIModelConfig
from .ids import DocIds
from .tokenizer import HFTokenizer, Tokenizer, WordTokenizer


class DecoderTokens(NamedTuple):
    """Decoder-side special tokens: padding, end of an id, and the token that starts decoding."""

    pad: int
    eos: int
    start: int


class Built(NamedTuple):
    net: nn.Module
    tokenizer: Tokenizer
    id_offset: int


@dataclass(frozen=True)
class Arch:
    """One DSI architecture: how to build it, rebuild it from its saved config, and its decoder vocabulary."""

    name: str
    config_file: str                                   # the network config inside a DSI checkpoint directory
    build: Callable[[DSIModelConfig, Sequence[str], DocIds], Built]
    from_config: Callable[[Mapping[str, Any]], nn.Module]
    decoder_tokens: Callable[[Tokenizer], DecoderTokens]
    check: Callable[[nn.Module, Tokenizer, int], None]


ARCHS: Registry[Arch] = Registry("dsi.model.arch")


# ----------------------------------------------------------------------------------------------- t5

def _resolve_t5(cfg: DSIModelConfig) -> str:
    """A local directory, or (only with ``allow_download``) a hub id; offline hub ids fail with the fix."""
    name = cfg.pretrained
    if Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise ConfigError(f"params.yaml: dsi.model.pretrained = {name!r} is a directory without config.json; "
                              "fix: point at a T5 checkpoint directory (config.json, weights, tokenizer files)")
        return name
    if not cfg.allow_download:
        raise ConfigError(f"params.yaml: dsi.model.pretrained = {name!r} is not a local directory and downloads are "
                          "off (the study runs offline); fix: download it once elsewhere (e.g. `huggingface-cli "
                          f"download {name} --local-dir models/{name}`) and pass that local directory, or set "
                          "dsi.model.allow_download: true on a machine with network access")
    return name


def _build_t5(cfg: DSIModelConfig, corpus_texts: Sequence[str], docids: DocIds) -> Built:
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    if cfg.pretrained:
        name = _resolve_t5(cfg)
        try:
            t5 = T5ForConditionalGeneration.from_pretrained(name, local_files_only=not cfg.allow_download)
            tok: Tokenizer = (HFTokenizer.from_dir(name) if Path(name).is_dir()
                              else HFTokenizer(AutoTokenizer.from_pretrained(name)))
        except OSError as e:
            raise ConfigError(f"params.yaml: dsi.model.pretrained = {name!r} cannot be loaded ({e}); fix: pass a "
                              "local directory holding a T5 checkpoint") from None
        offset = t5.get_input_embeddings().num_embeddings
        t5.resize_token_embeddings(offset + docids.n_tokens)
        return Built(t5, tok, offset)
    tok = WordTokenizer.build(corpus_texts, cfg.min_word_freq)
    offset = len(tok)
    t5 = T5ForConditionalGeneration(T5Config(
        vocab_size=offset + docids.n_tokens, d_model=cfg.d_model, d_kv=cfg.d_kv, d_ff=cfg.d_ff,
        num_layers=cfg.num_layers, num_decoder_layers=cfg.num_decoder_layers, num_heads=cfg.num_heads,
        dropout_rate=cfg.dropout, feed_forward_proj="relu", tie_word_embeddings=True,
        pad_token_id=tok.pad_id, eos_token_id=tok.eos_id, decoder_start_token_id=tok.pad_id))
    return Built(t5, tok, offset)


def _t5_from_config(d: Mapping[str, Any]) -> nn.Module:
    from transformers import T5Config, T5ForConditionalGeneration

    return T5ForConditionalGeneration(T5Config.from_dict(dict(d)))


def _check_t5(net: nn.Module, tok: Tokenizer, id_offset: int) -> None:
    if len(tok) > id_offset:
        raise ValueError(f"tokenizer has {len(tok)} entries, more than the id offset {id_offset}")


ARCHS.add("t5", Arch(
    name="t5", config_file="t5_config.json", build=_build_t5,
    from_config=_t5_from_config, decoder_tokens=lambda tok: DecoderTokens(tok.pad_id, tok.eos_id, tok.pad_id),
    check=_check_t5))


# --------------------------------------------------------------------------------------------- bert

#: decoder vocabulary of the bert arch: these three, then the id tokens
BERT_DECODER = DecoderTokens(pad=0, eos=1, start=2)


def _bert_from_config(d: Mapping[str, Any]) -> nn.Module:
    """The encoder-decoder of a stored ``EncoderDecoderConfig`` (weights uninitialised: the caller loads them).
    The encoder is built without BERT's pooler, which DSI never reads (an untrained pooler would be pruned)."""
    from transformers import BertLMHeadModel, BertModel, EncoderDecoderConfig, EncoderDecoderModel

    config = EncoderDecoderConfig.from_dict(dict(d))
    return EncoderDecoderModel(encoder=BertModel(config.encoder, add_pooling_layer=False),
                               decoder=BertLMHeadModel(config.decoder), config=config)


def _build_bert(cfg: DSIModelConfig, corpus_texts: Sequence[str], docids: DocIds) -> Built:
    from transformers import AutoConfig, BertConfig, BertLMHeadModel, BertModel, EncoderDecoderConfig
    from transformers import EncoderDecoderModel

    from .. import weights

    if cfg.pretrained:
        raise ConfigError(f"params.yaml: dsi.model.pretrained = {cfg.pretrained!r} is a T5 checkpoint, read only by "
                          "arch t5; fix: set dsi.model.pretrained: '' (arch bert warm-starts its encoder from "
                          "dsi.model.checkpoint) or dsi.model.arch: t5")
    path = weights.resolve(cfg.checkpoint)
    enc_config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    if enc_config.model_type != "bert":
        raise ConfigError(f"params.yaml: dsi.model.checkpoint = {cfg.checkpoint!r} holds a {enc_config.model_type!r} "
                          "model; fix: name a BERT checkpoint (arch bert needs a BertModel encoder)")
    n_layers = enc_config.num_hidden_layers
    weights.check_keep_layers("dsi.model.keep_layers", cfg.keep_layers, n_layers, cfg.checkpoint)
    hidden = enc_config.hidden_size
    if hidden % cfg.num_heads:
        raise ConfigError(f"params.yaml: dsi.model.num_heads = {cfg.num_heads} must divide the hidden size {hidden} "
                          f"of {cfg.checkpoint!r} (arch bert: the decoder's heads); fix: pick a divisor of {hidden}")
    encoder = weights.quiet_load(lambda: BertModel.from_pretrained(       # the unused pooler is reported "not used"
        str(path), local_files_only=True, add_pooling_layer=False, num_hidden_layers=cfg.keep_layers or n_layers,
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout))
    tok = HFTokenizer.from_dir(path)
    n_vocab = 3 + docids.n_tokens
    decoder = BertLMHeadModel(BertConfig(
        vocab_size=n_vocab, hidden_size=hidden, num_hidden_layers=cfg.num_decoder_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.d_ff, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout, max_position_embeddings=docids.max_len + 2, type_vocab_size=1,
        is_decoder=True, add_cross_attention=True, tie_word_embeddings=True, pad_token_id=BERT_DECODER.pad,
        eos_token_id=BERT_DECODER.eos, bos_token_id=BERT_DECODER.start))
    config = EncoderDecoderConfig.from_encoder_decoder_configs(encoder.config, decoder.config)
    config.pad_token_id, config.eos_token_id = BERT_DECODER.pad, BERT_DECODER.eos
    config.decoder_start_token_id = BERT_DECODER.start
    config.vocab_size = n_vocab
    net = EncoderDecoderModel(encoder=encoder, decoder=decoder, config=config)
    return Built(net, tok, 3)


def _check_bert(net: nn.Module, tok: Tokenizer, id_offset: int) -> None:
    rows = net.get_input_embeddings().num_embeddings
    if len(tok) > rows:
        raise ValueError(f"tokenizer has {len(tok)} entries but the encoder embeds only {rows}")
    if id_offset != 3:
        raise ValueError(f"arch bert puts its id tokens at 3, not at {id_offset}")


ARCHS.add("bert", Arch(
    name="bert", config_file="encoder_decoder_config.json", build=_build_bert, from_config=_bert_from_config,
    decoder_tokens=lambda tok: BERT_DECODER, check=_check_bert))


__all__ = ["ARCHS", "Arch", "BERT_DECODER", "Built", "DecoderTokens"]
