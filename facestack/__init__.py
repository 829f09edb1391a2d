"""facestack: find faces and label their gender and age, from scratch: vj detects, minicnn classifies.

    import facestack
    faces = facestack.analyze("photo.jpg")   # [{"box": (x, y, w, h), "gender": "female", ...}, ...]

``analyze`` uses the age/gender network shipped in the package (``docs/model_card.md``) and
vj's shipped frontal-face cascade. The rest of the package is the application around it:

* ``facestack.data``: UTKFace and IMDB-WIKI readers, the preprocessed cache, the seeded
  split, age bins, augmentation;
* ``facestack.models``: the networks of Kang, Jiang & Li (gender CNN, LeNet, multi-task);
* ``facestack.train``: the training command line the paper scripts share, and the paper's
  task weightings; ``facestack.paper``: those scripts;
* ``facestack.framing``, ``facestack.pipeline``, ``facestack.classify``: detect, frame,
  classify, draw (images, videos, cameras);
* ``facestack.cascade_data``: UTKFace and WebFaces faces framed as positives for vj's
  cascade trainer; ``facestack.webfaces``: detector evaluation on WebFaces annotations;
* ``facestack.cli``: the ``facestack`` command.
"""
from typing import Any

__version__ = "0.2.0"
__all__ = ["analyze", "__version__"]


def analyze(image: Any, **options: Any) -> list[dict[str, Any]]:
    """Every face in ``image`` with its gender and age bin: :func:`facestack.analysis.analyze`.

    Imported on first use, so that ``import facestack`` (and every ``facestack`` command's
    start) does not load Numba, vj and Pillow before they are needed.
    """
    from .analysis import analyze as run

    return run(image, **options)
