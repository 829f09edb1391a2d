"""Differentiable operations, one Function per op (see each module)."""
