"""Training, evaluation and data loading for STDC (run from the repository root: python -m training ...)."""
