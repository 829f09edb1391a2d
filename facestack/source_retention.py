"""How many of each positive source's face windows a cascade still accepts.

A cascade's stages each keep ``--min-hit-rate`` of the training positives *pooled*; when one
source is small and hard (real-photo WebFaces faces beside 23,707 UTKFace chips), the stages
can drop most of it and still meet the pooled rate. This measures it, window by window
(each face once, as framed, no augmentation, no scanning): the fraction of a source's
windows that pass every stage. It is the diagnostic behind ``vj train --hit-rate-per-source``.

    python experiments/cascade_source_retention.py default other.xml \\
        --utkface ../shared/data/utkface/UTKFace --webfaces wf_fit/WebFaces_GroundThruth.txt wf_val/...

Each source is cut as ``facestack train-cascade`` cuts it (the UTKFace chip box, the
WebFaces framing, or with ``--webfaces-framing chip`` the UTKFace positives' framing) at the
cascades' window size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cli import Parser
from .data.validate import UsageError


def retention(cascade, windows: np.ndarray) -> float:
    """Fraction of ``windows`` ``(N, h, w)`` uint8 that pass every stage of ``cascade``."""
    from vj.mining import cascade_accepts

    if windows.shape[0] == 0:
        raise UsageError("a source gave no face windows")
    return float(cascade_accepts(cascade, windows).mean())


def read_sources(utkface: list[str], webfaces: list[str], window: tuple[int, int],
                 webfaces_framing: str = "opencv") -> dict[str, np.ndarray]:
    """Label -> face windows ``(N, h, w)`` for each source, cut as ``facestack train-cascade`` cuts it.

    ``webfaces_framing``: ``"opencv"`` (``WEBFACES_FRAMING``) or ``"chip"`` (the UTKFace positives' framing).
    """
    from vj.positives import read_crop_folder

    from .cascade_data import UTKFACE_CHIP_BOX, webfaces_positive_framing
    from .webfaces import read_webfaces_faces

    framing = webfaces_positive_framing(webfaces_framing)

    sources: dict[str, np.ndarray] = {}
    for folder in utkface:
        if not Path(folder).is_dir():
            raise UsageError(f"--utkface {folder} is not a folder")
        sources[folder] = read_crop_folder(folder, window, box=UTKFACE_CHIP_BOX)[0]
    for annotation_file in webfaces:
        if not Path(annotation_file).is_file():
            raise UsageError(f"--webfaces {annotation_file}: no such file")
        sources[annotation_file] = read_webfaces_faces(annotation_file, window, framing=framing)[0]
    if not sources:
        raise UsageError("name at least one source: --utkface DIR or --webfaces FILE")
    return sources


def main(argv: list[str] | None = None) -> int:
    """Print, per cascade, the fraction of each source's windows it accepts; returns the exit status."""
    from vj.opencv_xml import load_cascade

    from .cascade_data import WEBFACES_FRAMING_CHOICES

    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cascades", nargs="+", help="cascade XML files; 'default' is vj's shipped cascade")
    parser.add_argument("--utkface", nargs="*", default=[], metavar="DIR", help="UTKFace chip folders")
    parser.add_argument("--webfaces", nargs="*", default=[], metavar="FILE",
                        help="WebFaces-format ground-truth files (photos in images/ beside each)")
    parser.add_argument("--webfaces-framing", choices=WEBFACES_FRAMING_CHOICES, default="opencv",
                        help="box the --webfaces faces as OpenCV's cascade does (default) or as the UTKFace "
                             "positives are cut, as facestack train-cascade's option")
    args = parser.parse_args(argv)
    cascades = {name: load_cascade(None if name == "default" else name) for name in args.cascades}
    window = tuple(next(iter(cascades.values())).window_size)
    if any(tuple(c.window_size) != window for c in cascades.values()):
        raise UsageError("the cascades' windows differ; compare cascades of one window size")
    sources = read_sources(args.utkface, args.webfaces, window, args.webfaces_framing)
    print("| cascade | " + " | ".join(f"{label} ({len(w):,} windows)" for label, w in sources.items()) + " |")
    print("|---|" + "---:|" * len(sources))
    for name, cascade in cascades.items():
        label = "vj default" if name == "default" else name
        print(f"| {label} | " + " | ".join(f"{retention(cascade, w):.3f}" for w in sources.values()) + " |",
              flush=True)
    return 0
