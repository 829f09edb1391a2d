"""Benchmarks: each compares minicnn or vj with its reference (PyTorch, OpenCV) in the same run."""
