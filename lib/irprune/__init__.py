"""irprune: a reproducible study of pruning neural information-retrieval models.

The package is deliberately thin: data loading and generation (:mod:`irprune.data`), first-stage BM25
(:mod:`irprune.bm25`), evaluation (:mod:`irprune.evaluation`), typed stage configs (:mod:`irprune.config`) and,
later, models and pruning kernels. Notebooks under ``notebooks/`` call into it; DVC runs the notebooks.
"""

__version__ = "0.1.0"
