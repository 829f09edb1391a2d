"""Optimisers and learning-rate schedules."""
from .schedule import CosineDecay, ExponentialDecay, Schedule, StepDecay
from .sgd import SGD, Adam, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "Schedule", "ExponentialDecay", "StepDecay", "CosineDecay"]
