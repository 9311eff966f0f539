"""Which parts of the trained default monoBERT's score carry the ranking: test MRR@10 (BM25's top 30 re-ranked, one
thread) of the trained ``models/monobert-s0`` with parts of its CEDR head zeroed: the kernel block over layer 0
(the embedding output), every other kernel block, the ``[CLS]`` classifier.

    python benchmarks/bench_monobert_ablation.py          # after `dvc repro train@monobert-0`
"""
import copy

import torch

from irprune import paths
from irprune.data.store import read_dataset
from irprune.evaluation import EvalConfig, evaluate
from irprune.models import load_checkpoint
from irprune.rerank import rerank
from irprune.runs import read_trec_run
torch.set_num_threads(1)
net = load_checkpoint(paths.model_dir(paths.trained("monobert", 0)), expect="monobert").eval()
ds = read_dataset(paths.DATASET); test = ds.splits["test"]; bm = read_trec_run(paths.bm25_run("test"))
cfg = EvalConfig(metrics=("mrr@10",), relevance_level=2)
K = net.kernels.n_kernels; L = net.kernel_head.weight.shape[1] // K
print("kernel blocks", L, "x", K, "; kernel head |w| per block:",
      [round(float(net.kernel_head.weight[0, i*K:(i+1)*K].detach().abs().sum()), 3) for i in range(L)], flush=True)
def variant(name, f):
    m = copy.deepcopy(net); f(m)
    with torch.inference_mode():
        run = rerank(m, test.queries, ds.corpus, bm, depth=30, keep_rest=True)
    print(name, round(evaluate(test.qrels, run, cfg).metrics()["mrr@10"], 4), flush=True)
def zero_blocks(blocks, cls=False):
    def f(m):
        with torch.no_grad():
            for b in blocks: m.kernel_head.weight[0, b*K:(b+1)*K] = 0
            if cls: m.bert.classifier.weight.zero_()
    return f
variant("full", lambda m: None)
variant("no layer-0 kernels", zero_blocks([0]))
variant("layer-0 kernels only (no [CLS], no other layers' kernels)", zero_blocks(range(1, L), cls=True))
variant("[CLS] only (no kernels)", zero_blocks(range(L)))
