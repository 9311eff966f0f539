"""The report: the tidy results table (:mod:`.results`), derived numbers (:mod:`.analysis`), figures, tables,
LaTeX macros, published reference numbers and the paper build (:mod:`.paper`); stage configs in :mod:`.config`."""
