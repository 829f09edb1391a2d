"""Ready-made networks: those of the reproduced paper."""
from .paper import VARIANTS, GenderNet, LeNetAge, MultiTaskNet, paper_init, trunk

__all__ = ["VARIANTS", "GenderNet", "LeNetAge", "MultiTaskNet", "paper_init", "trunk"]
