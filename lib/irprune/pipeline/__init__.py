"""The body of each pipeline stage: one small module per DVC stage, called from its notebook."""
