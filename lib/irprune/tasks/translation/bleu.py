"""Corpus BLEU (Papineni et al., 2002, "BLEU: a method for automatic evaluation of machine translation") with
sacrebleu (Post, 2018, "A call for clarity in reporting BLEU scores"): ``BP * exp(Σ_n ¼ log p_n)`` over n = 1..4,
with clipped n-gram precisions ``p_n`` and brevity penalty ``BP = min(1, exp(1 - r/c))``, on a 0-100 scale.
Hypotheses and references are token lists joined by spaces; ``tokenize="none"`` (default) scores exactly those
tokens, ``"13a"`` applies sacrebleu's standard tokenizer on top (use it to compare with published numbers).
"""

from __future__ import annotations

from collections.abc import Sequence


def corpus_bleu(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                tokenize: str = "none") -> float:
    """BLEU of token-list hypotheses against one token-list reference each (0-100)."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    hyp = [" ".join(h) for h in hypotheses]
    ref = [" ".join(r) for r in references]
    return float(sacrebleu.corpus_bleu(hyp, [ref], tokenize=tokenize).score)


__all__ = ["corpus_bleu"]
