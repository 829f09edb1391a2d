"""Training helpers shared by the experiments (the full loop lives in ``minicnn.train.loop``)."""
from .step import NonFiniteLossError, check_finite, evaluate, train_step

__all__ = ["NonFiniteLossError", "check_finite", "train_step", "evaluate"]
