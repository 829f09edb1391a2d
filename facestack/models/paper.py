"""The networks of Kang, Jiang & Li, "Multi-task learning based on CNN for age and gender classification".

Two readings of each network exist: the paper's text and its authors' published
code (see ``shared/paper/original-code-notes.md``). ``variant="authors-code"``
builds what the code trained; ``variant="paper"`` follows the text where the
text is consistent with itself. All inputs are (N, 1, 128, 128) grayscale.

Shapes of the shared trunk (both variants; TensorFlow 'SAME' padding):
    conv1 7x7/2, 1->32     128 -> 64,  max-pool 3x3/2 -> 32
    conv2 5x5/1, 32->64     32 -> 32,  max-pool 3x3/2 -> 16
    conv3 3x3/1, 64->64     16 -> 16,  max-pool 3x3/2 -> 8      flatten: 64*8*8 = 4096
authors-code: conv -> ReLU -> LRN -> pool for conv1 and conv2, no LRN after conv3;
paper text:   conv -> ReLU -> pool -> LRN after all three convs, dropout after the FC layers.
The text's strides of 2 for conv2/conv3 contradict its own output sizes (which fit stride 1),
so both variants use stride 1 there. LRN is TensorFlow's: an 11-channel window
(depth_radius 5), alpha 1e-4 not divided by the size, beta 0.75, k 1.
"""
from __future__ import annotations

from typing import Any

from minicnn import nn
from minicnn.tensor import Tensor

VARIANTS = ("paper", "authors-code")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: expected one of {VARIANTS}")


def tf_lrn() -> nn.LocalResponseNorm:
    """TensorFlow's LRN as the authors' code used it (depth_radius 5, alpha 1e-4, beta 0.75, bias 1)."""
    return nn.LocalResponseNorm(size=11, alpha=1e-4, beta=0.75, k=1.0, alpha_over_size=False)


def paper_init(module: nn.Module, std: float = 0.1, bias: float = 0.1, rng: Any = 0) -> nn.Module:
    """The authors' initialisation: weights truncated normal (stddev 0.1), biases 0.1."""
    for name, p in module.named_parameters():
        if name.endswith("bias"):
            nn.init.constant_(p, bias)
        elif p.ndim >= 2:
            nn.init.trunc_normal_(p, std, rng=rng)
    return module


def trunk(variant: str = "paper", width: int = 1) -> nn.Sequential:
    """The three-conv feature extractor shared by the gender and joint networks: (N,1,128,128) -> (N, 4096*width)."""
    _check_variant(variant)
    c1, c2, c3 = 32 * width, 64 * width, 64 * width
    pool = lambda: nn.MaxPool2d(3, 2, padding="same")  # noqa: E731 - tiny factory
    if variant == "authors-code":
        layers = [
            nn.Conv2d(1, c1, 7, stride=2, padding="same"), nn.ReLU(), tf_lrn(), pool(),
            nn.Conv2d(c1, c2, 5, stride=1, padding="same"), nn.ReLU(), tf_lrn(), pool(),
            nn.Conv2d(c2, c3, 3, stride=1, padding="same"), nn.ReLU(), pool(),
        ]
    else:
        layers = [
            nn.Conv2d(1, c1, 7, stride=2, padding="same"), nn.ReLU(), pool(), tf_lrn(),
            nn.Conv2d(c1, c2, 5, stride=1, padding="same"), nn.ReLU(), pool(), tf_lrn(),
            nn.Conv2d(c2, c3, 3, stride=1, padding="same"), nn.ReLU(), pool(), tf_lrn(),
        ]
    return nn.Sequential(*layers, nn.Flatten())


class GenderNet(nn.Module):
    """Trunk -> FC 4096->512 ReLU -> FC 512->classes. (N,1,128,128) -> logits (N, classes).

    ``classes=4`` gives the authors' code's "age net" (the same network with 4 outputs).
    The paper variant adds dropout after FC6.
    """

    def __init__(self, variant: str = "paper", classes: int = 2, dropout: float | None = None) -> None:
        super().__init__()
        self.features = trunk(variant)
        p = (0.5 if variant == "paper" else 0.0) if dropout is None else dropout
        head = [nn.Linear(4096, 512), nn.ReLU()]
        if p > 0:
            head.append(nn.Dropout(p))
        head.append(nn.Linear(512, classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class LeNetAge(nn.Module):
    """The paper's LeNet age classifier on 128x128 input, as its text describes it.

        C1 conv 5x5, 1->6          128 -> 124
        S2 subsample 2x2 + sigmoid 124 -> 62   (sum of 2x2 times a trainable weight plus a bias)
        C3 conv 5x5, 6->16          62 -> 58
        S4 subsample 2x2 + sigmoid  58 -> 29
        C5 conv 5x5, 16->120        29 -> 25   then sigmoid
        F6 FC 120*25*25 -> 84, sigmoid   (84 as in LeNet-5; the text gives no size)
        output FC 84 -> 4 age bins

    ``activation="tanh"`` puts tanh where the text has the logistic sigmoid (LeCun's LeNet-5
    used a scaled tanh). On 128x128 input C5 is 25x25, so F6 sums 75,000 inputs; the
    sigmoid's outputs all sit near 0.5, so the first SGD steps move every F6 unit's input
    the same way by far more than its range, the F6 sigmoids saturate within a few steps
    and the network stays at the majority class (docs/results.md, the LeNet diagnosis).
    tanh's outputs are centred on 0, which removes that common push.
    """

    ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}

    def __init__(self, classes: int = 4, f6: int = 84, activation: str = "sigmoid") -> None:
        super().__init__()
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(self.ACTIVATIONS)}, got {activation!r}")
        act = self.ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Subsample2d(6), act(),
            nn.Conv2d(6, 16, 5), nn.Subsample2d(16), act(),
            nn.Conv2d(16, 120, 5), act(), nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(120 * 25 * 25, f6), act(), nn.Linear(f6, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class MultiTaskNet(nn.Module):
    """Shared trunk and FC6, then one branch per task. (N,1,128,128) -> (gender logits (N,2), age logits (N,4)).

        trunk -> FC6 4096->512 ReLU -> per task: FC7 512->100 ReLU -> FC8 100->classes
    The paper variant adds dropout after FC6 and FC7 (the text's "FC8 fed from 512" is a typo for 100).
    """

    def __init__(self, variant: str = "paper", age_classes: int = 4, dropout: float | None = None, width: int = 1) -> None:
        super().__init__()
        p = (0.5 if variant == "paper" else 0.0) if dropout is None else dropout
        self.features = trunk(variant, width)
        drop = (lambda: [nn.Dropout(p)]) if p > 0 else (lambda: [])  # noqa: E731
        self.shared = nn.Sequential(nn.Linear(4096 * width, 512), nn.ReLU(), *drop())
        self.gender_head = nn.Sequential(nn.Linear(512, 100), nn.ReLU(), *drop(), nn.Linear(100, 2))
        self.age_head = nn.Sequential(nn.Linear(512, 100), nn.ReLU(), *drop(), nn.Linear(100, age_classes))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.shared(self.features(x))
        return self.gender_head(h), self.age_head(h)
