"""Learning curves of monoBERT fine-tuning recipes on the default collection.

The from-scratch monoBERT of the default study does not leave the uniform-score plateau within the CPU budget
(its test MRR@10 is below BM25's).  This script fine-tunes it with one recipe, outside the pipeline, and prints
the training loss averaged over blocks of 50 steps (``ln(1 + negatives)`` = uniform scores) and the dev MRR@10
on the first ``--eval-queries`` dev queries (BM25 top-30 re-ranked) every quarter of the run, so a recipe can be
judged in minutes.  Needs ``dvc repro pretrain`` (tokenizer and MLM checkpoint) to have run.

    python benchmarks/bench_monobert_recipes.py --lr 5e-4 --steps 1200 --random-negatives 2
    python benchmarks/bench_monobert_recipes.py --from-scratch --lr 3e-4 --steps 300
    python benchmarks/bench_monobert_recipes.py --from-scratch --ppmi-embeddings --lr 1e-3 --threads 2
    python benchmarks/bench_monobert_recipes.py --lr 5e-4 --random-negatives 2 --other-positive-negatives

``--ppmi-embeddings`` starts the word embeddings from the pretrain stage's PPMI-SVD vectors (the kernel models'
input) through a fixed random orthonormal map to the hidden size; ``--other-positive-negatives`` draws the extra
negatives from other training queries' positives, so a passage's identity does not predict its label.
"""

from __future__ import annotations

import argparse
import json
import time


def _ppmi_embeddings(model) -> int:
    """Overwrite the word embeddings of the words in the pretrain stage's vectors (64-d) with ``P v``, ``P`` a
    seeded random orthonormal ``[H, 64]`` map; returns the number of rows set."""
    from types import SimpleNamespace

    import torch

    from irprune import paths
    from irprune.text.vocab import load_word_vectors

    emb = model.bert.bert.embeddings.word_embeddings.weight
    dim = len(paths.PRETRAIN_WORD_VECTORS.read_text().split("\n", 2)[1].split()) - 1
    vocab = SimpleNamespace(index=model.text.get_vocab(), pad_id=model.text.pad_token_id)
    unset = torch.full((emb.shape[0], dim), float("nan"))
    vectors, found = load_word_vectors(paths.PRETRAIN_WORD_VECTORS, vocab, unset)
    proj, _ = torch.linalg.qr(torch.randn(emb.shape[1], dim, generator=torch.Generator().manual_seed(0)))
    rows = ~vectors.isnan().any(1)
    with torch.no_grad():
        emb[rows] = vectors[rows] @ proj.T
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--negatives", type=int, default=3, help="BM25 negatives per positive")
    ap.add_argument("--random-negatives", type=int, default=0, help="extra random (easy) negatives")
    ap.add_argument("--batch-queries", type=int, default=16)
    ap.add_argument("--loss", default="listwise")
    ap.add_argument("--negative-depth", type=int, default=20, help="BM25 negatives come from this top-k")
    ap.add_argument("--other-positive-negatives", action="store_true",
                    help="draw the --random-negatives from other training queries' positives")
    ap.add_argument("--from-scratch", action="store_true", help="ignore the MLM checkpoint (tokenizer only)")
    ap.add_argument("--ppmi-embeddings", action="store_true", help="from scratch: PPMI-SVD word embeddings")
    ap.add_argument("--init-std", type=float, default=None, help="from scratch: BERT initializer_range")
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="hidden and attention dropout (the study's small preset uses 0; 0.1 = the earlier recipes)")
    ap.add_argument("--eval-queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the curves here")
    args = ap.parse_args()

    import torch

    from irprune import paths
    from irprune.data.store import read_dataset
    from irprune.evaluation import EvalConfig
    from irprune.models import build_model
    from irprune.runs import read_trec_run
    from irprune.text import load_tokenizer
    from irprune.training import DevEvaluator, Trainer, build_pool
    from irprune.training.config import TrainConfig
    from irprune.training.spec import parse_model_spec

    torch.set_num_threads(args.threads)
    ds = read_dataset(paths.DATASET)
    bm25 = {s: read_trec_run(paths.bm25_run(s)) for s in ("train", "dev")}
    if (args.ppmi_embeddings or args.init_std) and not args.from_scratch:
        ap.error("--ppmi-embeddings and --init-std need --from-scratch")
    if args.from_scratch:
        spec = parse_model_spec("monobert", {"preset": "small", "dropout": args.dropout})
        model = build_model("monobert", spec.config, load_tokenizer(paths.PRETRAIN_TOKENIZER), seed=0)
        if args.init_std:       # re-draw every weight with Hugging Face's own initialiser at this std
            model.bert.config.initializer_range = args.init_std
            model.bert.apply(model.bert._init_weights)
        if args.ppmi_embeddings:
            _ppmi_embeddings(model)
    else:
        spec = parse_model_spec("monobert", {"preset": "small", "pretrained": str(paths.PRETRAIN_MLM),
                                             "dropout": args.dropout})
        model = build_model("monobert", spec.config, None, seed=0)
    train, dev = ds.splits["train"], ds.splits["dev"]
    pool = build_pool(train.queries, train.qrels, bm25["train"], ds.corpus, depth=args.negative_depth)
    if args.other_positive_negatives:   # sample_group draws random negatives from pool.doc_ids
        pool.doc_ids = sorted({d for docs in pool.positives.values() for d in docs})
    ev = DevEvaluator(dev.queries, dev.qrels, ds.corpus, bm25["dev"],
                      EvalConfig(metrics=("mrr@10",), relevance_level=2), "mrr@10", depth=30,
                      n_queries=args.eval_queries, batch_size=256)
    cfg = TrainConfig(loss=args.loss, negatives=args.negatives, negative_depth=args.negative_depth,
                      random_negatives=args.random_negatives, batch_queries=args.batch_queries, epochs=100,
                      max_steps=args.steps, lr=args.lr, eval_every=max(args.steps // 4, 1), progress=False, seed=0)
    t0 = time.perf_counter()
    res = Trainer(model, cfg, pool, evaluator=ev).fit()
    losses = res.losses
    blocks = [round(sum(losses[i:i + 50]) / len(losses[i:i + 50]), 3) for i in range(0, len(losses), 50)]
    curve = [(e["step"], round(e["dev"]["mrr@10"], 3)) for e in res.evaluations]
    out = {"recipe": vars(args), "seconds": round(time.perf_counter() - t0, 1), "loss_per_50_steps": blocks,
           "dev_mrr@10": curve}
    print(json.dumps(out))
    if args.json:
        from irprune.io import atomic_write_json

        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
