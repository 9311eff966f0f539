"""Dense retrieval in the report: the bi-encoder against BM25, its index compressed (PQ, OPQ, JPQ), its query encoder
pruned, and one quality-vs-cost figure that sets the study's three ways of compressing retrieval side by side.

Reads the dense stages' records (``metrics/dense.json``, ``runs/dense_prune/*/metrics.json``) for what the tidy
table has no column for (index bytes, search latency, significance), and the tidy table (``results.csv``) for the
re-rankers' and DSI's pruning cells.  Missing records read "not run".

The figure's x axis is the compression factor of the part that is compressed, on a log scale: ``1 / density`` of
the pruned weights for the re-rankers, DSI and the bi-encoder's query encoder, ``float32 bytes / code bytes`` for
the PQ/OPQ/JPQ index; its y axis is the share of the uncompressed system's test MRR@10 that is kept (each family
against its own dense reference: the re-ranker, the dense DSI, the fine-tuned bi-encoder over the flat index).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cells.schema import INDEX_METHODS, index_method
from . import palette
from .tables import NOT_RUN, Table, fmt, fmt_count, p_text, pct

DENSE_METRICS = Path("metrics") / "dense.json"
PRUNE_RECORDS = "runs/dense_prune/*/metrics.json"
FIGURE = "compression_axes"
METRIC = "mrr@10"
#: The pruning methods drawn for the re-rankers and DSI (the others are in their own figures).
FIGURE_METHODS = ("gmp", "magnitude")


@dataclass
class DenseResults:
    record: dict[str, Any] | None
    prune: list[dict[str, Any]]

    def system(self, name: str) -> dict[str, Any] | None:
        return ((self.record or {}).get("systems") or {}).get(name)

    def compressed(self) -> list[tuple[str, dict[str, Any]]]:
        """``(name, record)`` of the PQ/OPQ/JPQ systems, by compression then PQ, OPQ, JPQ."""
        systems = (self.record or {}).get("systems") or {}
        out = [(n, s) for n, s in systems.items() if index_method(n)]
        return sorted(out, key=lambda x: (x[1].get("compression", 0), INDEX_METHODS.index(index_method(x[0])), x[0]))


def load(root: str | Path = ".") -> DenseResults:
    root = Path(root)
    p = root / DENSE_METRICS
    record = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None
    prune = [json.loads(q.read_text(encoding="utf-8")) for q in sorted(root.glob(PRUNE_RECORDS))]
    return DenseResults(record, prune)


def _family_points(df: Any, task: str, split: str) -> dict[str, list[tuple[float, float]]]:
    """``label -> [(compression, retained)]`` for the pruned cells of ``task`` (seed means), against the dense row of
    the same model."""
    out: dict[str, list[tuple[float, float]]] = {}
    if df is None or not len(df):
        return out
    sub = df[(df["task"] == task) & (df["split"] == split)]
    for model in sorted(set(sub["model"])):
        dense = sub[(sub["model"] == model) & (sub["method"] == "dense")]
        if dense.empty or not dense[METRIC].notna().any():
            continue
        ref = float(dense[METRIC].mean())
        for method in FIGURE_METHODS:
            g = sub[(sub["model"] == model) & (sub["method"] == method)]
            if g.empty or not ref:
                continue
            g = g.groupby("target_sparsity")[["achieved_sparsity", METRIC]].mean().reset_index()
            pts = [(1.0 / max(1e-9, 1.0 - float(r["achieved_sparsity"])), float(r[METRIC]) / ref)
                   for _, r in g.iterrows()]
            label = f"{palette.model_label(model)}, {palette.method_label(method)}"
            out[label] = sorted(pts)
    return out


def figure(res: DenseResults, df: Any, out_dir: Path, split: str = "test") -> list[Path]:
    """The quality-vs-cost figure (module docstring); ``[]`` when neither the dense stage nor any pruning cell ran."""
    from .figures import _legend, _plt, _save

    fam = {**_family_points(df, "ranking", split), **{f"DSI: {k.split(', ', 1)[1]}": v for k, v in
                                                      _family_points(df, "dsi", split).items()}}
    ref = (res.system("biencoder") or {}).get(METRIC)
    idx: dict[str, list[tuple[float, float]]] = {}
    if ref:
        for name, s in res.compressed():
            method = index_method(name)
            idx.setdefault(method, []).append((float(s["compression"]), float(s[METRIC]) / ref))
        pr: dict[str, list[tuple[float, float]]] = {}
        for r in res.prune:
            pr.setdefault(r["method"], []).append((1.0 / max(1e-9, 1.0 - float(r["achieved_sparsity"])),
                                                   float(r[METRIC]) / ref))
    else:
        pr = {}
    if not fam and not idx and not pr:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    greys = ["#999999", "#666666", "#BBBBBB", "#444444", "#CCCCCC", "#222222"]
    for i, (label, pts) in enumerate(sorted(fam.items())):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, color=greys[i % len(greys)], marker="o" if "DSI" not in label else "D", markersize=3,
                linewidth=0.9, linestyle="-" if "DSI" not in label else ":", label=label)
    for method, pts in idx.items():
        st = palette.method_style(method)
        xs, ys = zip(*sorted(pts))
        ax.plot(xs, ys, color=st.color, marker=st.marker, linestyle=st.linestyle, linewidth=1.4, markersize=5,
                label=f"Bi-encoder index, {st.label.split(' (')[0]}")
    for method, pts in pr.items():
        st = palette.method_style(method)
        xs, ys = zip(*sorted(pts))
        ax.plot(xs, ys, color=palette.OKABE_ITO["vermillion"], marker=st.marker, linestyle="-", linewidth=1.4,
                markersize=5, label=f"Bi-encoder query encoder, {st.label}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(0.95, color=palette.GREY, linewidth=0.8, linestyle=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("Compression of the compressed part (x, log scale)")
    ax.set_ylabel(f"Share of uncompressed {METRIC.upper().replace('@', '@')} kept")
    ax.set_title("Pruning the model vs. compressing the index")
    _legend(fig, [ax], ncol=2)
    return _save(fig, out_dir, FIGURE)


def table(res: DenseResults, bm25: dict | None = None, split: str = "test") -> Table:
    """BM25, the zero-shot and fine-tuned bi-encoder, PQ/OPQ/JPQ at each size, the pruned query encoders."""
    header = ("System", "Index", "Compression", "MRR@10", "nDCG@10", "Kept", "Latency (ms)", "p vs BM25")
    rows: list[tuple[str, ...]] = []
    b = (bm25 or {}).get(split) or {}
    rows.append(("BM25", "inverted index", "", fmt(b.get("mrr@10")), fmt(b.get("ndcg@10")), "", "", ""))
    ref = (res.system("biencoder") or {}).get(METRIC)
    if res.record is None:
        rows.append(("Bi-encoder", NOT_RUN, "", NOT_RUN, NOT_RUN, "", "", ""))
    else:
        def row(label: str, s: dict[str, Any]) -> tuple[str, ...]:
            kept = pct(s[METRIC] / ref) if ref else ""
            p = s.get("p_vs_bm25")
            return (label, f"{fmt_count(s.get('index_bytes'))}B", f"{s.get('compression', 1.0):.0f}x",
                    fmt(s.get("mrr@10")), fmt(s.get("ndcg@10")), kept, fmt(s.get("latency_ms"), 2),
                    "" if p is None else (f"{p:.3f}" if p >= 0.001 else "<0.001"))
        rows.append(row("Bi-encoder, zero-shot (flat)", res.system("zeroshot")))
        rows.append(row("Bi-encoder, fine-tuned (flat)", res.system("biencoder")))
        for name, s in res.compressed():
            method = index_method(name)
            rows.append(row(f"{method.upper()}, M = {name[len(method):]}", s))
    group = len(rows) - 1
    for r in sorted(res.prune, key=lambda r: (r["method"], r["target_sparsity"])):
        kept = pct(r[METRIC] / ref) if ref else ""
        rows.append((f"Query encoder, {palette.method_label(r['method'])} {pct(float(r['target_sparsity']), 0)}",
                     "flat", f"{1 / max(1e-9, 1 - float(r['achieved_sparsity'])):.1f}x (enc.)", fmt(r.get("mrr@10")),
                     fmt(r.get("ndcg@10")), kept, fmt(r.get("latency_ms"), 2), ""))
    training = (res.record or {}).get("training") or {}
    tuned = "fine-tuned on both sides" if training.get("side") == "both" else "with its query encoder fine-tuned"
    if training.get("teacher"):
        tuned += f" and distilled from {teacher_label(training['teacher'])}"
    caption = (f"Dense retrieval on the full collection ({split} split): the pretrained bi-encoder zero-shot and "
               f"{tuned}, its index compressed by PQ, OPQ and JPQ (JPQ started from OPQ; "
               "compression of the float32 document vectors; index bytes include the centroids and OPQ's "
               "rotation), and its query encoder pruned (compression of the pruned weights; the index stays flat). "
               "Kept: share of the fine-tuned bi-encoder's MRR@10. Latency: CPU, one query at a time, encoding plus "
               "search (pruned rows: encoding only). p: paired test against BM25 on the same queries, "
               "Holm-adjusted.")
    return Table("dense_retrieval", header, tuple(rows), caption, "tab:denseretrieval", "ll" + "r" * (len(header) - 2),
                 (group,))


def add_macros(M: Any, res: DenseResults, keep: float = 0.95) -> None:
    """The paper's dense macros: the checkpoint's name, the reference line's share, whether the stage ran, and how
    the bi-encoder was fine-tuned (one side or both, the re-ranker it was distilled from)."""
    from ..weights import CHECKPOINTS
    from .macros import pct as pct_or

    name = (res.record or {}).get("checkpoint", "minilm-l6")
    ckpt = CHECKPOINTS.get(name)
    M.text("DenseCheckpointName", ckpt.hub_id.split("/")[-1] if ckpt is not None else str(name))
    M.add("DenseKeepLine", pct_or(keep))
    M.flag("HaveDenseRetrieval", res.record is not None)
    training = (res.record or {}).get("training") or {}
    M.flag("DenseBothSides", training.get("side") == "both")
    teacher = str(training.get("teacher") or "")
    M.flag("DenseDistilled", bool(teacher))
    M.text("DenseTeacherName", teacher_label(teacher))
    add_outcome_macros(M, res)


def add_outcome_macros(M: Any, res: DenseResults) -> None:
    """What the dense section says of its results: the fine-tuned bi-encoder's MRR@10 against the zero-shot one and
    BM25 (``\\ifDenseAboveBM``: higher mean; ``\\ifDenseBeatsBM``: also significant after Holm's adjustment), and
    the share of it PQ, OPQ and JPQ keep at the strongest compression run (``\\ifDenseTopHasJpq``: JPQ and PQ both
    ran there; ``\\ifDenseJpqAbovePq``, with the Holm-adjusted paired p of JPQ against PQ there)."""
    from .macros import pct as pct_or

    sig = (res.record or {}).get("significance") or {}
    flat, zero = res.system("biencoder") or {}, res.system("zeroshot") or {}
    ref, bm = flat.get(METRIC), flat.get(f"bm25_{METRIC}")
    M.add("DenseTunedMRR", fmt(ref))
    M.add("DenseZeroShotMRR", fmt(zero.get(METRIC)))
    M.add("DenseBMMRR", fmt(bm))
    M.add("DenseVsBMP", p_text(flat.get("p_vs_bm25")))
    above = ref is not None and bm is not None and ref > bm
    M.flag("DenseAboveBM", above)
    M.flag("DenseBeatsBM", above and bool((sig.get("biencoder_vs_bm25") or {}).get("significant")))
    compressed = res.compressed()
    top = max((s.get("compression", 0.0) for _, s in compressed), default=None)
    at_top = {index_method(n): (n, s) for n, s in compressed if s.get("compression") == top}
    M.add("DenseTopCompression", f"{top:.0f}$\\times$" if top else NOT_RUN)
    for method, stem in (("pq", "Pq"), ("opq", "Opq"), ("jpq", "Jpq")):
        s = at_top.get(method, ("", {}))[1]
        M.add(f"DenseTop{stem}Kept", pct_or(s[METRIC] / ref if ref and s.get(METRIC) is not None else None))
    jpq, pq = at_top.get("jpq", ("", {})), at_top.get("pq", ("", {}))
    M.flag("DenseTopHasJpq", METRIC in jpq[1] and METRIC in pq[1])
    M.flag("DenseJpqAbovePq", jpq[1].get(METRIC, -1.0) > pq[1].get(METRIC, math.inf))
    M.add("DenseJpqVsPqP", p_text((sig.get(f"{jpq[0]}_vs_{pq[0]}") or {}).get("p_holm")))


def teacher_label(teacher: str) -> str:
    """``monobert-s0`` -> ``monoBERT (training seed 0)``; another name as it is."""
    from ..paths import parse_trained

    parsed = parse_trained(teacher)
    return f"{palette.model_label(parsed[0])} (training seed {parsed[1]})" if parsed else teacher


__all__ = ["DenseResults", "load", "figure", "table", "add_macros", "add_outcome_macros", "DENSE_METRICS",
           "PRUNE_RECORDS", "FIGURE"]
