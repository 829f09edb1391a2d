"""Optimisers and learning-rate schedules.

``lr_scheduler`` holds PyTorch's schedulers (StepLR, ExponentialLR, CosineAnnealingLR,
LambdaLR, LinearLR); ``schedule`` the closed-form decays the Trainer uses.
"""
from . import lr_scheduler
from .schedule import CosineDecay, ExponentialDecay, Schedule, StepDecay
from .sgd import SGD, Adam, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "Schedule", "ExponentialDecay", "StepDecay", "CosineDecay", "lr_scheduler"]
