"""Data: the shared representation, loaders for real collections, the synthetic default, pseudo-queries."""
