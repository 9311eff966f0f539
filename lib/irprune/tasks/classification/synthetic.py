"""The offline default classification corpus: topics with overlapping Zipfian vocabularies.

Generative model (all draws from one seeded ``numpy`` generator):

* a shared *topical* pool of ``n_topic_words`` pseudo-words and a *background* pool of ``n_background_words``;
* class ``c`` has a topic distribution ``t_c``: Zipf(``topic_zipf``) weights (Zipf 1949) over its own random
  permutation of the whole topical pool, so every class can emit every topical word, but each prefers its own;
* a document of class ``c`` has length ``L ~ round(N(len_mean, len_sd))`` clipped to ``[len_min, len_max]``,
  and each token is i.i.d.: background ``b`` with probability ``1 - p_topic``; otherwise from ``t_c`` with
  probability ``1 - p_confuse`` or from ``t_{c'}`` of a uniformly drawn other class ``c'``.

So ``p(w | c) = (1-p_topic) b(w) + p_topic ((1-p_confuse) t_c(w) + p_confuse/(C-1) Σ_{c'≠c} t_{c'}(w))`` exactly,
and :func:`bayes_accuracy` (the naive-Bayes posterior, which is the Bayes-optimal classifier here) gives the
accuracy ceiling of the generated test set; the defaults put it near 0.93, learnable but not trivial.
"""

from __future__ import annotations

import numpy as np

from ...config import frozen, param
from ...data.synthetic_vocab import make_words, zipf_weights
from .data import ClassificationData, ClassificationSplit


@frozen
class SyntheticClassificationConfig:
    """Size and difficulty of the synthetic topic-classification corpus."""

    seed: int = param(7, ge=0)
    n_classes: int = param(4, ge=2)
    n_train: int = param(4000, ge=1, doc="training documents (balanced over classes)")
    n_test: int = param(1000, ge=1, doc="test documents (balanced over classes)")
    n_topic_words: int = param(600, ge=2)
    n_background_words: int = param(150, ge=1)
    topic_zipf: float = param(1.0, ge=0, doc="Zipf exponent of each class's topic distribution")
    background_zipf: float = param(1.1, ge=0)
    p_topic: float = param(0.6, ge=0, le=1, doc="probability that a token is topical")
    p_confuse: float = param(0.2, ge=0, lt=1, doc="probability that a topical token comes from another class")
    len_mean: float = param(14.0, gt=0)
    len_sd: float = param(4.0, ge=0)
    len_min: int = param(4, ge=1)
    len_max: int = param(40, ge=1)


class TopicModel:
    """The generator's distributions (vocabulary, ``b``, ``t_c``, ``p(w|c)``) for a config."""

    def __init__(self, cfg: SyntheticClassificationConfig) -> None:
        if cfg.len_max < cfg.len_min:
            raise ValueError(f"len_max = {cfg.len_max} < len_min = {cfg.len_min}")
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        taken: set[str] = set()
        self.topic_words = make_words(self.rng, cfg.n_topic_words, 2, 3, taken)
        self.background_words = make_words(self.rng, cfg.n_background_words, 1, 2, taken)
        self.words = self.topic_words + self.background_words
        self.index = {w: i for i, w in enumerate(self.words)}
        T, B, C = cfg.n_topic_words, cfg.n_background_words, cfg.n_classes
        z = zipf_weights(T, cfg.topic_zipf)
        self.topics = np.zeros((C, T + B))
        for c in range(C):
            self.topics[c, self.rng.permutation(T)] = z
        self.background = np.zeros(T + B)
        self.background[T:] = zipf_weights(B, cfg.background_zipf)
        others = (self.topics.sum(0, keepdims=True) - self.topics) / (C - 1)
        topical = (1 - cfg.p_confuse) * self.topics + cfg.p_confuse * others
        #: p(w | c), rows sum to 1
        self.p_word = (1 - cfg.p_topic) * self.background[None, :] + cfg.p_topic * topical

    def sample(self, n: int) -> ClassificationSplit:
        cfg, rng = self.cfg, self.rng
        labels = np.arange(n) % cfg.n_classes
        rng.shuffle(labels)
        lengths = np.clip(np.rint(rng.normal(cfg.len_mean, cfg.len_sd, size=n)), cfg.len_min, cfg.len_max)
        cdf = np.cumsum(self.p_word, axis=1)
        cdf[:, -1] = 1.0
        texts = []
        for c, L in zip(labels, lengths.astype(int)):
            ids = np.searchsorted(cdf[c], rng.random(L), side="right")
            texts.append(" ".join(self.words[i] for i in ids))
        return ClassificationSplit(tuple(texts), tuple(int(c) for c in labels))

    def log_likelihood(self, text: str) -> np.ndarray:
        """``log p(text | c)`` for every class (unknown words are an error: texts come from this model)."""
        ids = [self.index[w] for w in text.split()]
        return np.log(self.p_word[:, ids]).sum(axis=1)


def make_topic_corpus(cfg: SyntheticClassificationConfig = SyntheticClassificationConfig()) -> ClassificationData:
    """Generate the train and test splits (deterministic for a config)."""
    tm = TopicModel(cfg)
    train, test = tm.sample(cfg.n_train), tm.sample(cfg.n_test)
    return ClassificationData(train, test, tuple(f"topic{c}" for c in range(cfg.n_classes)),
                              {"source": "synthetic", "bayes_accuracy": bayes_accuracy(tm, test)})


def bayes_accuracy(tm: TopicModel, split: ClassificationSplit) -> float:
    """Accuracy of the Bayes-optimal classifier (uniform prior, exact ``p(w|c)``) on ``split``: the ceiling."""
    pred = [int(np.argmax(tm.log_likelihood(t))) for t in split.texts]
    return float(np.mean(np.asarray(pred) == np.asarray(split.labels)))


__all__ = ["SyntheticClassificationConfig", "TopicModel", "make_topic_corpus", "bayes_accuracy"]
