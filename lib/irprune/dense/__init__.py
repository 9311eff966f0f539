"""Dense retrieval with a pretrained bi-encoder, and compressing its index.

* :mod:`.encoder` -- the bi-encoder (mean pooling, L2 normalisation), corpus encoding in length-sorted batches;
* :mod:`.index` -- faiss flat inner-product index and product quantization (PQ), codebooks, bytes, latency;
* :mod:`.train` -- contrastive fine-tuning of the query encoder (in-batch + BM25 negatives), selected on dev;
* :mod:`.jpq` -- JPQ (Zhan et al. 2021): query encoder and PQ centroids trained jointly, codes fixed;
* :mod:`.prune` -- the query encoder pruned through the one cell layer (magnitude, random, GMP) and recovered.
"""
