"""File readers: what a .tflite holds, read without running it as a model (its signatures
and app contract, precision, provenance stamp, operators, intermediate tensors)."""
