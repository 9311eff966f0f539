"""Published pruning results for vision and NLP, as published, with the table or file each number comes from.

Only numbers checked against the authors' own release are here; what could not be verified is left out (see
``NOT_INCLUDED``).  The retained fraction (value / dense) is computed, never copied.

* Gale, Elsen & Hooker (2019), "The State of Sparsity in Deep Neural Networks", arXiv:1902.09574: ResNet-50 on
  ImageNet, top-1 accuracy (%) of the best magnitude-pruning checkpoint per sparsity, from the "Trained
  Checkpoints" table of the authors' release (google-research/google-research, ``state_of_sparsity/README.md``);
  dense: the three baseline runs of ``state_of_sparsity/results/sparse_rn50/technique_comparison/
  rn50_baselines.csv`` (76.67, 76.80, 76.59), whose mean is used.
* Sanh, Wolf & Rush (2020), "Movement Pruning: Adaptive Sparsity by Fine-Tuning", NeurIPS: BERT-base on SQuAD
  v1.1 dev, F1, fine-pruning with distillation, at 10% and 3% remaining weights, from the results table of the
  authors' README (huggingface/transformers ``examples/research_projects/movement-pruning/README.md``).
* Kurtic et al. (2022), "The Optimal BERT Surgeon", EMNLP: BERT-base on SQuAD v1.1 dev, F1, downstream
  unstructured pruning, 30 epochs, Table 1 of the paper as reproduced in the authors' README
  (neuralmagic/sparseml ``research/optimal_BERT_surgeon_oBERT/README.md``, "Table 1").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published sparse result and its dense reference."""

    key: str            # bibtex key in report/references.bib
    domain: str         # vision | NLP
    model: str
    task: str
    method: str
    metric: str
    dense: float
    sparsity: float     # fraction of (prunable) weights removed
    value: float
    source: str         # table / file the numbers come from

    @property
    def retained(self) -> float:
        return self.value / self.dense


_GALE_DENSE = (76.67 + 76.80 + 76.59) / 3
_GALE_SRC = "authors' release, state_of_sparsity/README.md (checkpoints table); dense: rn50_baselines.csv mean"
_SANH_SRC = "authors' README, movement-pruning results table (with distillation)"
_OBERT_SRC = "Table 1 (30 epochs), as in the authors' README"

PUBLISHED: tuple[Published, ...] = (
    *(Published("gale2019state", "vision", "ResNet-50", "ImageNet", "Magnitude (gradual)", "Top-1 acc.",
                _GALE_DENSE, s, v, _GALE_SRC)
      for s, v in ((0.5, 76.53), (0.7, 76.38), (0.8, 75.58), (0.9, 73.91), (0.95, 70.59), (0.98, 57.90))),
    *(Published("sanh2020movement", "NLP", "BERT-base", "SQuAD v1.1", m, "F1", 88.1, s, v, _SANH_SRC)
      for m, s, v in (("Magnitude", 0.90, 80.1), ("Magnitude", 0.97, 59.6), ("Movement", 0.90, 84.3),
                      ("Movement", 0.97, 78.0), ("Soft movement", 0.90, 84.9), ("Soft movement", 0.97, 82.3))),
    *(Published("kurtic2022optimal", "NLP", "BERT-base", "SQuAD v1.1", "oBERT", "F1", 88.54, s, v, _OBERT_SRC)
      for s, v in ((0.80, 89.04), (0.90, 88.31), (0.97, 85.98))),
)

#: What the comparison leaves out because it could not be checked against the authors' own numbers.
NOT_INCLUDED = ("Movement pruning without distillation (paper Table 1) and the per-sparsity curves of its "
                "figures; oBERT 10-epoch and block-pruned results; Gale et al.'s variational dropout and L0 rows.")


def at_sparsity(sparsity: float, domain: str | None = None, tol: float = 1e-9) -> list[Published]:
    """Published results at ``sparsity`` (optionally of one domain)."""
    return [p for p in PUBLISHED if abs(p.sparsity - sparsity) <= tol and (domain is None or p.domain == domain)]


def best_retained(sparsity: float, domain: str) -> Published | None:
    """The published result of ``domain`` retaining most of its dense value at ``sparsity``."""
    hits = at_sparsity(sparsity, domain)
    return max(hits, key=lambda p: p.retained) if hits else None


def series() -> dict[tuple[str, str, str, str], list[Published]]:
    """Published results grouped by (key, model, task, method), each sorted by sparsity."""
    out: dict[tuple[str, str, str, str], list[Published]] = {}
    for p in PUBLISHED:
        out.setdefault((p.key, p.model, p.task, p.method), []).append(p)
    return {k: sorted(v, key=lambda p: p.sparsity) for k, v in out.items()}


def max_sparsity_keeping(keep: float, domain: str | None = None) -> dict[tuple[str, str, str, str],
                                                                        Published | None]:
    """Per published series (:func:`series`, optionally of one ``domain``): the result of highest sparsity that
    keeps at least ``keep`` of its dense value, among the sparsities the authors report (None: none does)."""
    out: dict[tuple[str, str, str, str], Published | None] = {}
    for k, ps in series().items():
        if domain is not None and ps[0].domain != domain:
            continue
        ok = [p for p in ps if p.retained >= keep - 1e-12]
        out[k] = max(ok, key=lambda p: p.sparsity) if ok else None
    return out
