"""Judging a file against its checkpoint: comparisons and the tolerance table, PyTorch
reference logits, the properties, divergence localisation, deliberately broken models,
baseline comparison, golden files, verify's checks and accuracy on a dataset.
"""
