"""The cell layer: what one cell of the study (task x model x method x target sparsity x seed) produces.

:mod:`.schema` defines the results row every stage writes; the report (:mod:`irprune.report`) only reads it.
"""
