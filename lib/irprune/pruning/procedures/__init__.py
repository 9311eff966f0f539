"""The pruning procedures, one file each: ``(cell) -> Mask | None``, registered in :mod:`irprune.pruning.methods`.

A procedure installs its masks on ``cell.model`` (parametrizations: pruned weights stay exactly zero through the
training that follows), trains through ``cell.train`` and returns the final mask (None: nothing masked)."""
