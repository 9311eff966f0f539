"""monoBERT: Nogueira & Cho 2019, "Passage Re-ranking with BERT" (arXiv 1901.04085).

A BERT cross-encoder (``BertForSequenceClassification``) reads ``[CLS] query [SEP] passage [SEP]`` (token
types 0 / 1; query truncated to 64 and the pair to 512 tokens in the paper) and classifies the pair.  With the
paper's 2-way softmax head the score is the logit of P(relevant) = ``l_rel - l_nonrel``: a monotone function of
the softmax probability monoBERT ranks by, unbounded (``sigmoid(score)`` = P(relevant), so BCE on the score is
the paper's 2-class cross-entropy).  ``head = "one_logit"`` uses a single output logit instead.

Weights: ``pretrained`` names a registered checkpoint (the default ``minilm-l6``: all-MiniLM-L6-v2, fetched once
and sha256-verified by :mod:`irprune.weights`), a local checkpoint directory (e.g. from
:func:`irprune.models.mlm.pretrain_mlm`) or a hub id such as ``bert-base-uncased``; the encoder and the
checkpoint's own tokenizer load with ``from_pretrained`` and the score head on ``[CLS]`` is new.  ``keep_layers``
keeps the first n encoder layers (a layer-truncated start, as the 2- and 4-layer MiniLM cross-encoders are).
Without ``pretrained`` a BERT of the configured shape is initialised from scratch around a tokenizer trained on
the collection (:func:`irprune.text.train_wordpiece`).  ``paper`` preset = bert-base-uncased shape.

``pooling`` chooses what the head reads: the paper's pooler (``tanh(W h_[CLS])``), the raw ``[CLS]`` state, the
masked mean of the token states, or (``cedr``) the raw ``[CLS]`` state plus K-NRM kernel features (Xiong et al.
2017) of the cosine similarities between the query's and the passage's token states at every layer of the same
joint encoding: CEDR-KNRM (MacAvaney et al. 2019, "CEDR: Contextualized Embeddings for Document Ranking").
``cedr_match: pacrr`` reads the same matrices with PACRR's position-aware n-gram convolutions instead (CEDR-PACRR,
:mod:`irprune.models.pacrr_pooling`), which see whether the query's terms occur in its order; ``both`` adds the two.
all-MiniLM-L6-v2 was trained through mean pooling and its pooler never was: through that pooler a cross-encoder
does not even memorise one batch in 30 AdamW steps, through the raw ``[CLS]`` or the mean it does in 15-25
(docs/research-log.md).

``biencoder_prior`` adds the checkpoint's own zero-shot bi-encoder score (the same encoder run on the query and on
the passage alone, mean-pooled and normalised as all-MiniLM-L6-v2 was trained; a learned scale) to the head's
score, so fine-tuning learns a residual over what the checkpoint knows instead of replacing it (the residual
design of CLEAR, Gao et al. 2021, with the bi-encoder in the place of BM25).  Every score head then starts at zero,
so the untrained model ranks exactly as the checkpoint does zero-shot, and with ``train.eval_at_start`` the
selection can keep that start.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any, ClassVar, Iterator, Literal, Optional, Sequence
from urllib.parse import urlparse

import torch
from torch import Tensor

from ..config import frozen, param
from ..errors import ConfigError
from ..io import atomic_write_text
from ..text.wordpiece import load_tokenizer
from .base import Batch, Pair, Ranker
from .registry import MODELS


@frozen
class MonoBERTConfig:
    """monoBERT hyper-parameters.  Defaults: the shape of the ``small`` CPU preset (BERT-tiny, Turc et al. 2019:
    2 layers, H = 128, 2 heads; the preset also turns dropout off) with the paper's dropout 0.1; ``paper``:
    bert-base-uncased (12 layers, H = 768, 12 heads, 110M params)."""

    pretrained: Optional[str] = param(None, doc="registered checkpoint name (irprune.weights), local "
                                      "checkpoint dir or hub id; null = initialise from params")
    weights_dir: Optional[str] = param(None, doc="a local copy of the registered checkpoint's files (verified)")
    keep_layers: Optional[int] = param(None, ge=1, doc="keep the first n encoder layers of the checkpoint")
    head_lr_scale: float = param(1.0, gt=0, doc="learning-rate multiplier of the new score head (CEDR trains its "
                                 "head at 1e-3 and BERT at 2e-5)")
    freeze_embeddings: bool = param(False, doc="keep the word-piece embedding matrix fixed (it is never pruned; "
                                    "on CPU its dense gradient and AdamW update cost about a third of a step)")
    head: Literal["two_class", "one_logit"] = param("two_class", doc="2-way softmax head (paper) or 1 logit")
    pooling: Literal["pooler", "cls", "mean", "cedr"] = param(
        "pooler", doc="what the head reads: BERT's pooler on [CLS] (paper), the raw [CLS] state, the masked mean "
        "of all tokens, or the raw [CLS] state plus K-NRM features of every layer's query-passage similarity "
        "matrix (CEDR-KNRM, MacAvaney et al. 2019)")
    cedr_match: Literal["knrm", "pacrr", "both"] = param(
        "knrm", doc="cedr: how the head reads every layer's query-passage similarities: K-NRM kernels (CEDR-KNRM), "
        "PACRR's position-aware n-gram convolutions (CEDR-PACRR: sees whether terms match in order) or both")
    pacrr_ngrams: int = param(3, ge=1, doc="cedr_match pacrr: largest n-gram filter (n x n; PACRR's l_g)")
    pacrr_filters: int = param(32, ge=1, doc="cedr_match pacrr: filters per n-gram size")
    pacrr_kmax: int = param(2, ge=1, doc="cedr_match pacrr: strongest document positions kept per query term")
    cedr_embedding_kernels: bool = param(
        True, doc="cedr: also pool the embedding output's similarities (layer 0, as CEDR does); false = only the "
        "transformer layers' states, so the score depends on the weights that pruning removes")
    biencoder_prior: bool = param(
        False, doc="add the checkpoint's own bi-encoder score s * cos(mean E(q), mean E(p)) (E = this encoder on the "
        "query and on the passage alone, as all-MiniLM-L6-v2 was trained): the cross-encoder learns a residual over "
        "what the checkpoint knows zero-shot")
    prior_scale: float = param(20.0, gt=0, doc="initial s of the bi-encoder prior (learned; 20 = the contrastive "
                               "scale all-MiniLM-L6-v2 was trained with)")
    prior_query_tokens: Optional[int] = param(None, ge=3, doc="tokens of the prior's query alone, [CLS] and [SEP] "
                                              "included (as first_stage.query_max_tokens counts); null = "
                                              "max_query_len + 2")
    prior_doc_tokens: Optional[int] = param(None, ge=3, doc="tokens of the prior's passage alone, [CLS] and [SEP] "
                                            "included (as first_stage.doc_max_tokens counts, so the prior is the "
                                            "checkpoint's dense score); null = max_doc_len + 2")
    vocab_size: Optional[int] = param(None, ge=1, doc="embedding rows; null = the tokenizer's size")
    hidden: int = param(128, ge=1, doc="hidden size (paper 768)")
    layers: int = param(2, ge=1, doc="transformer layers (paper 12)")
    heads: int = param(2, ge=1, doc="attention heads, must divide hidden (paper 12)")
    intermediate: int = param(512, ge=1, doc="feed-forward size (paper 3072)")
    max_len: int = param(128, ge=4, doc="position embeddings = longest [CLS] q [SEP] d [SEP] (paper 512)")
    dropout: float = param(0.1, ge=0, lt=1, doc="hidden and attention dropout (paper 0.1)")
    max_query_len: int = param(16, ge=1, doc="default query tokens (paper 64)")
    max_doc_len: int = param(96, ge=1, doc="default passage tokens (paper 512 - 64 - 3 = 445)")

    def validate(self) -> None:
        if self.biencoder_prior and self.pooling == "pooler":
            raise ConfigError("params.yaml: models.monobert.biencoder_prior needs pooling cls, mean or cedr (the "
                              "prior adds to a head that reads the encoder's states); fix: set pooling: cedr")
        if self.hidden % self.heads:
            raise ConfigError(f"params.yaml: model.monobert.heads = {self.heads} must divide hidden = {self.hidden}")
        if self.pretrained is None and self.max_query_len + self.max_doc_len + 3 > self.max_len:
            raise ConfigError(
                f"params.yaml: model.monobert max_query_len + max_doc_len + 3 = "
                f"{self.max_query_len + self.max_doc_len + 3} exceeds max_len = {self.max_len}; "
                "lower max_doc_len or raise max_len")
        if self.pretrained is None:
            self.check_prior_lengths(self.max_len)

    def check_prior_lengths(self, limit: int) -> None:
        """The prior's texts alone fit the model's ``limit`` positions (the checkpoint's, or ``max_len``)."""
        for key in ("prior_query_tokens", "prior_doc_tokens"):
            n = getattr(self, key)
            if self.biencoder_prior and n is not None and n > limit:
                raise ConfigError(f"params.yaml: models.monobert.{key} = {n} exceeds the model maximum of {limit} "
                                  f"positions; fix: set it to {limit} or less")


def bert_config(cfg: MonoBERTConfig, vocab_size: int, pad_token_id: int = 0) -> Any:
    """The ``transformers.BertConfig`` of a from-scratch monoBERT."""
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                      num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate,
                      max_position_embeddings=cfg.max_len, type_vocab_size=2, hidden_dropout_prob=cfg.dropout,
                      attention_probs_dropout_prob=cfg.dropout, pad_token_id=pad_token_id,
                      num_labels=2 if cfg.head == "two_class" else 1)


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_pretrained(spec: str, head: str = "two_class", weights_dir: Optional[str] = None,
                    keep_layers: Optional[int] = None) -> tuple[Any, Any]:
    """``(BertForSequenceClassification, tokenizer)`` from a registered checkpoint, a local dir or a hub id.

    A registered name resolves to verified files (:func:`irprune.weights.resolve`).  A local directory
    must hold ``config.json`` (a BERT) and tokenizer files.  A hub id is looked up in the local cache first;
    downloading is attempted only when the hub is reachable.  ``keep_layers`` truncates the encoder.
    """
    from transformers import AutoConfig, AutoTokenizer, BertForSequenceClassification

    from .. import weights

    num_labels = 2 if head == "two_class" else 1
    extra: dict[str, Any] = {}
    if keep_layers is not None:
        extra["num_hidden_layers"] = keep_layers
    if weights.is_registered(spec):
        spec = str(weights.resolve(spec, weights_dir))
    elif weights_dir is not None:
        raise ConfigError(f"monobert.weights_dir is set but pretrained = {spec!r} is not a registered checkpoint "
                          f"({', '.join(sorted(weights.CHECKPOINTS))}); fix: put the directory in pretrained, or "
                          "unset weights_dir")
    path = Path(spec).expanduser()
    looks_local = spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or os.sep != "/" and os.sep in spec
    if path.exists() or looks_local:
        if not path.is_dir():
            raise ConfigError(f"monobert.pretrained = {spec!r}: no such directory; fix: point it at a checkpoint "
                              "directory (e.g. the output of the MLM pretraining stage) or set it to null")
        if not (path / "config.json").is_file():
            raise ConfigError(f"monobert.pretrained = {spec!r} is not a checkpoint directory (no config.json); fix: "
                              "point it at a directory written by save_pretrained / pretrain_mlm")
        model_type = AutoConfig.from_pretrained(str(path), local_files_only=True).model_type
        if model_type != "bert":
            raise ConfigError(f"monobert.pretrained = {spec!r} holds a {model_type!r} model, not a BERT; fix: "
                              "use a BERT checkpoint")
        if not ((path / "tokenizer.json").is_file() or (path / "vocab.txt").is_file()):
            raise ConfigError(f"monobert.pretrained = {spec!r} has no tokenizer (tokenizer.json or vocab.txt); "
                              "fix: save the tokenizer into the checkpoint directory (pretrain_mlm does)")
        n_layers = AutoConfig.from_pretrained(str(path), local_files_only=True).num_hidden_layers
        weights.check_keep_layers("models.monobert.keep_layers", keep_layers, n_layers, spec)
        model = weights.quiet_load(lambda: BertForSequenceClassification.from_pretrained(
            str(path), num_labels=num_labels, local_files_only=True, **extra))
        tok = load_tokenizer(path)
        check_vocab(tok, model.config.vocab_size, spec)
        return model, tok
    try:  # a hub id already in the local cache works offline
        return (BertForSequenceClassification.from_pretrained(spec, num_labels=num_labels, local_files_only=True,
                                                              **extra),
                AutoTokenizer.from_pretrained(spec, local_files_only=True))
    except OSError:
        pass
    if not _hub_reachable():
        raise ConfigError(f"monobert.pretrained = {spec!r} is not a local directory and is not in the Hugging Face "
                          "cache, and the network (the Hugging Face Hub) is unavailable; fix: pass a local "
                          "checkpoint directory (e.g. the output of pretrain_mlm), set it to null to train from "
                          "scratch, or run once with network access to fill the cache")
    try:
        return (BertForSequenceClassification.from_pretrained(spec, num_labels=num_labels, **extra),
                AutoTokenizer.from_pretrained(spec))
    except OSError as e:
        raise ConfigError(f"monobert.pretrained = {spec!r}: could not load it from the Hugging Face Hub ({e}); "
                          "fix: check the model id or pass a local checkpoint directory") from None


def check_vocab(tokenizer: Any, vocab_size: int, spec: str) -> None:
    """The tokenizer's ids must index the checkpoint's embedding rows."""
    if len(tokenizer) > vocab_size:
        raise ConfigError(f"monobert.pretrained = {spec!r}: the tokenizer has {len(tokenizer)} tokens but the "
                          f"checkpoint's embedding has {vocab_size} rows; fix: use the tokenizer saved with this "
                          "checkpoint (a tokenizer and weights from different models cannot be combined)")


def _mean_pool(states: Tensor, att: Tensor) -> Tensor:
    """Mean of ``[B, T, H]`` states over the ``[B, T]`` attention mask (the formula of
    :func:`irprune.dense.encoder.mean_pool`, not imported so that the ranker stages do not depend on ``dense``)."""
    mask = att.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def _pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-padded ``[B, T]`` ids and their ``[B, T]`` attention mask."""
    ids = torch.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=torch.long)
    att = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        att[i, : len(r)] = 1
    return ids, att


@MODELS.register("monobert")
class MonoBERT(Ranker):
    """BERT cross-encoder; ``self.bert`` is the ``BertForSequenceClassification``."""

    name = "monobert"
    config_cls = MonoBERTConfig
    # The score heads start new (small, the classifier at std 0.02, the kernel head at 0) beside pretrained
    # weights: at 90% global magnitude sparsity they were emptied first and the score became a constant.  What is
    # pruned is the encoder: its linear layers (as in Sanh et al. 2020), and its embeddings where prune.include
    # lists them.
    never_pruned = ("bert.classifier.*", "kernel_head.*", "pacrr.*", "pacrr_head.*")
    # small: dropout off (with 0.1 the from-scratch BERT does not learn term matching: bench_bert_matching)
    presets = {"small": {"dropout": 0.0}, "paper": {"vocab_size": 30522, "hidden": 768, "layers": 12, "heads": 12,
                                      "intermediate": 3072, "max_len": 512, "max_query_len": 64,
                                      "max_doc_len": 445}}

    #: the most texts one inference scope keeps a prior vector for (H floats each: 150 MB at H = 384)
    alone_cache_limit: ClassVar[int] = 100_000

    def __init__(self, cfg: MonoBERTConfig, tokenizer: Any, bert: Any) -> None:
        super().__init__(cfg, tokenizer)
        self.bert = bert
        self._alone_cache: dict[bytes, Tensor] | None = None
        if cfg.pooling != "pooler":        # the head reads the encoder's states directly: no unused pooler weights
            self.bert.bert.pooler = None
        if cfg.pooling == "cedr":
            n_states = self.bert.config.num_hidden_layers + int(cfg.cedr_embedding_kernels)
            if cfg.cedr_match in ("knrm", "both"):
                from .kernel_pooling import KernelPooling, knrm_kernels

                self.kernels = KernelPooling(*knrm_kernels())
                self.kernel_head = torch.nn.Linear(n_states * self.kernels.n_kernels, 1)
                torch.nn.init.zeros_(self.kernel_head.weight)    # the score starts as the [CLS] head's alone
                torch.nn.init.zeros_(self.kernel_head.bias)
            if cfg.cedr_match in ("pacrr", "both"):
                from .pacrr_pooling import PacrrPooling

                self.pacrr = PacrrPooling(n_states, cfg.pacrr_ngrams, cfg.pacrr_filters, cfg.pacrr_kmax)
                # CEDR-PACRR's scorer: the features of every query position, flattened, through two hidden layers
                # of 32 (the last layer at zero, so the score starts as the [CLS] head's alone)
                width = cfg.max_query_len * self.pacrr.n_features
                self.pacrr_head = torch.nn.Sequential(torch.nn.Linear(width, 32), torch.nn.ReLU(),
                                                      torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
                torch.nn.init.zeros_(self.pacrr_head[-1].weight)
                torch.nn.init.zeros_(self.pacrr_head[-1].bias)
        if cfg.biencoder_prior:
            self.prior_scale = torch.nn.Parameter(torch.tensor(float(cfg.prior_scale)))
            if isinstance(getattr(self.bert, "classifier", None), torch.nn.Linear):
                # the [CLS] head at zero too, so the untrained model ranks exactly as the checkpoint does zero-shot
                torch.nn.init.zeros_(self.bert.classifier.weight)
                torch.nn.init.zeros_(self.bert.classifier.bias)

    @classmethod
    def build(cls, cfg: MonoBERTConfig, text: Any) -> "MonoBERT":
        from transformers import BertForSequenceClassification

        if cfg.pretrained is not None:
            if text is not None:
                raise ConfigError("monobert: pretrained is set, so the tokenizer comes from the checkpoint; "
                                  "pass text=None (or unset pretrained to use this tokenizer)")
            bert, tok = load_pretrained(cfg.pretrained, cfg.head, cfg.weights_dir, cfg.keep_layers)
            model = cls(cfg, tok, bert)
            model.check_lengths(cfg.max_query_len, cfg.max_doc_len)      # fail at build, not at first batch
            model.freeze_word_embeddings(cfg.freeze_embeddings)
            return model
        if text is None or not hasattr(text, "convert_tokens_to_ids"):
            raise ConfigError("monobert without pretrained needs a tokenizer (irprune.text.train_wordpiece on the "
                              f"collection), got {type(text).__name__}")
        vocab_size = cfg.vocab_size or len(text)
        if vocab_size < len(text):
            raise ConfigError(f"model.monobert.vocab_size = {vocab_size} is smaller than the tokenizer ({len(text)}); "
                              "set it to null")
        model = cls(cfg, text, BertForSequenceClassification(bert_config(cfg, vocab_size, text.pad_token_id)))
        model.freeze_word_embeddings(cfg.freeze_embeddings)
        return model

    def freeze_word_embeddings(self, frozen: bool) -> None:
        self.bert.bert.embeddings.word_embeddings.weight.requires_grad_(not frozen)

    def save_text(self, directory: Path) -> None:
        self.text.save_pretrained(str(directory / "tokenizer"))
        atomic_write_text(directory / "bert_config.json", self.bert.config.to_json_string())

    @classmethod
    def from_saved_text(cls, cfg: MonoBERTConfig, directory: Path) -> "MonoBERT":
        from transformers import BertConfig, BertForSequenceClassification

        hf = BertConfig.from_json_file(str(directory / "bert_config.json"))
        model = cls(cfg, load_tokenizer(directory / "tokenizer"), BertForSequenceClassification(hf))
        model.freeze_word_embeddings(cfg.freeze_embeddings)
        return model

    def length_limits(self) -> tuple[int, int]:
        room = self.bert.config.max_position_embeddings - 3
        return room - 1, room - 1

    def _limit_hint(self) -> str:
        return "max_len in the model config, or a checkpoint with more position embeddings"

    def check_lengths(self, max_query_len: int, max_doc_len: int) -> None:
        super().check_lengths(max_query_len, max_doc_len)
        limit = self.bert.config.max_position_embeddings
        if max_query_len + max_doc_len + 3 > limit:
            raise ConfigError(
                f"monobert: max_query_len + max_doc_len + 3 = {max_query_len + max_doc_len + 3} tokens exceeds the "
                f"model maximum of {limit} positions; fix: lower max_doc_len to {limit - 3 - max_query_len} or less")
        self.cfg.check_prior_lengths(limit)

    def _collate(self, pairs: Sequence[Pair], max_query_len: int, max_doc_len: int) -> dict[str, Tensor]:
        tok = self.text
        enc = tok([t for pair in pairs for t in pair], add_special_tokens=False)["input_ids"]
        cls_id, sep_id, pad_id = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id
        rows, types = [], []
        for q, d in zip(enc[0::2], enc[1::2]):
            q, d = q[:max_query_len], d[:max_doc_len]
            rows.append([cls_id, *q, sep_id, *d, sep_id])
            types.append([0] * (len(q) + 2) + [1] * (len(d) + 1))
        ids, att = _pad(rows, pad_id)
        tt, _ = _pad(types, 0)
        out = {"input_ids": ids, "token_type_ids": tt, "attention_mask": att}
        if self.cfg.biencoder_prior:      # each side alone, [CLS] text [SEP], for the bi-encoder prior
            q_alone = self.cfg.prior_query_tokens - 2 if self.cfg.prior_query_tokens else max_query_len
            d_alone = self.cfg.prior_doc_tokens - 2 if self.cfg.prior_doc_tokens else max_doc_len
            for side, seqs, limit in (("q", enc[0::2], q_alone), ("d", enc[1::2], d_alone)):
                out[f"{side}_input_ids"], out[f"{side}_attention_mask"] = _pad(
                    [[cls_id, *x[:limit], sep_id] for x in seqs], pad_id)
        return out

    def biencoder_score(self, batch: Batch) -> Tensor:
        """``s * cos(mean E(q), mean E(p))``: the checkpoint's zero-shot bi-encoder score, scaled."""
        return self.prior_scale * (self._alone(batch, "q") * self._alone(batch, "d")).sum(-1)

    @contextlib.contextmanager
    def inference_cache(self) -> Iterator[None]:
        """Within the scope each distinct query and passage is encoded alone once for the bi-encoder prior: a
        passage is a candidate of many queries (Cranfield's 1,400 documents fill its 6,750 dev and test pairs),
        and a query has ``depth`` candidates.  Only gradient-free calls read or fill it."""
        previous, self._alone_cache = self._alone_cache, ({} if self.cfg.biencoder_prior else None)
        try:
            yield
        finally:
            self._alone_cache = previous

    def _alone(self, batch: Batch, side: str) -> Tensor:
        """Unit-length mean-pooled states of one side (``q`` or ``d``) encoded alone: each distinct text of the
        batch once (a query heads all its pairs), and, inside :meth:`inference_cache`, once per scope."""
        ids, att = batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"]
        cache = self._alone_cache if not torch.is_grad_enabled() else None
        lengths = att.sum(1).tolist()
        host = ids.cpu().numpy()
        keys = [host[i, :n].tobytes() for i, n in enumerate(lengths)]    # right-padded: the ids are the text
        new: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in new and (cache is None or key not in cache):
                new[key] = i
        fresh: dict[bytes, Tensor] = {}
        if new:
            rows = torch.tensor(list(new.values()), device=ids.device)
            width = max(lengths[i] for i in new.values())
            found = self._encode_alone(ids[rows, :width], att[rows, :width])
            if cache is None:
                at = {key: j for j, key in enumerate(new)}
                return found[torch.tensor([at[k] for k in keys], device=ids.device)]
            fresh = dict(zip(new, found))
        assert cache is not None                   # without a cache every text of the batch is new
        if len(cache) + len(fresh) <= self.alone_cache_limit:
            cache.update(fresh)
        return torch.stack([fresh[k] if k in fresh else cache[k] for k in keys])

    def _encode_alone(self, ids: Tensor, att: Tensor) -> Tensor:
        states = self.bert.bert(input_ids=ids, attention_mask=att).last_hidden_state
        return torch.nn.functional.normalize(_mean_pool(states, att), dim=-1)

    def lr_scales(self) -> list[tuple[list[torch.nn.Parameter], float]]:
        """The new score head's parameters and their learning-rate multiplier (read by the trainer)."""
        head = list(self.bert.classifier.parameters())
        if self.cfg.pooling == "cedr":
            for name in ("kernel_head", "pacrr", "pacrr_head"):
                if hasattr(self, name):
                    head += list(getattr(self, name).parameters())
        if self.cfg.biencoder_prior:
            head.append(self.prior_scale)
        return [(head, self.cfg.head_lr_scale)]

    def _match_score(self, batch: Batch, hidden_states: Sequence[Tensor]) -> Tensor:
        """The matching part of the CEDR score from each layer's query-passage cosine matrix (the embedding output
        first unless ``cedr_embedding_kernels`` is off): K-NRM kernel features through a linear layer and/or PACRR
        features of the first ``max_query_len`` query positions through CEDR-PACRR's scorer: [B]."""
        from .kernel_pooling import cosine_matrix

        ids, types, att = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
        content = att.bool() & (ids != self.text.sep_token_id) & (ids != self.text.cls_token_id)
        q_mask, d_mask = content & (types == 0), content & (types == 1)
        # the query is the first segment, so only its rows of the cosine matrix count: [B, rows, T], not [B, T, T]
        rows = int(((types == 0) & att.bool()).sum(1).max())
        states = hidden_states if self.cfg.cedr_embedding_kernels else hidden_states[1:]
        score = torch.zeros(ids.shape[0], device=ids.device)
        if hasattr(self, "kernels"):
            feats = [self.kernels(cosine_matrix(h[:, :rows], h), q_mask[:, :rows], d_mask) for h in states]
            score = score + self.kernel_head(torch.cat(feats, dim=-1))[:, 0]
        if hasattr(self, "pacrr"):
            n_q = self.cfg.max_query_len           # query term i is row 1 + i (row 0 is [CLS])
            sim = torch.stack([cosine_matrix(h[:, 1:1 + n_q], h) for h in states], dim=1)   # [B, C, <= n_q, T]
            qm = q_mask[:, 1:1 + n_q]
            if sim.shape[2] < n_q:                 # a batch shorter than the head's query width
                sim = torch.nn.functional.pad(sim, (0, 0, 0, n_q - sim.shape[2]))
                qm = torch.nn.functional.pad(qm, (0, n_q - qm.shape[1]))
            feats = self.pacrr(sim, qm, d_mask)                                             # [B, n_q, F]
            score = score + self.pacrr_head(feats.flatten(1))[:, 0]
        return score

    def forward(self, batch: Batch) -> Tensor:
        if self.cfg.pooling == "pooler":
            logits = self.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               token_type_ids=batch["token_type_ids"]).logits     # [B, 2] or [B, 1]
        else:
            out = self.bert.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 token_type_ids=batch["token_type_ids"],
                                 output_hidden_states=self.cfg.pooling == "cedr")
            states = out.last_hidden_state
            if self.cfg.pooling == "mean":
                rep = _mean_pool(states, batch["attention_mask"])
            else:
                rep = states[:, 0]
            logits = self.bert.classifier(self.bert.dropout(rep))
            score = logits[:, 1] - logits[:, 0] if logits.shape[-1] == 2 else logits[:, 0]
            if self.cfg.pooling == "cedr":
                score = score + self._match_score(batch, out.hidden_states)
            if self.cfg.biencoder_prior:
                score = score + self.biencoder_score(batch)
            return score
        if logits.shape[-1] == 2:
            return logits[:, 1] - logits[:, 0]                               # logit of P(relevant)
        return logits[:, 0]
