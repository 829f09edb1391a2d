"""A public-domain "group photo" for the pipeline demo in the docs: two real portraits side by side.

    python experiments/make_demo_photo.py /tmp/two_portraits.png

The data this project trains and tests on (UTKFace, WebFaces) may not be redistributed, so
an annotated copy of one of its photos cannot be committed. This joins two public-domain
photographs that ship with the libraries we depend on: NASA's portrait of astronaut Eileen
Collins (scikit-image's ``astronaut``) and the U.S. Navy's portrait of Rear Admiral Grace
Hopper (Matplotlib's sample ``grace_hopper.jpg``), scaled to the same height.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from .cli import Parser


def two_portraits(height: int = 512) -> Image.Image:
    """The two portraits side by side, each scaled to ``height`` pixels (RGB)."""
    import matplotlib.cbook
    from skimage import data

    left = Image.fromarray(data.astronaut())
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as source:
        right = source.convert("RGB")
    scaled = [im.resize((round(im.width * height / im.height), height), Image.BICUBIC) for im in (left, right)]
    photo = Image.new("RGB", (sum(im.width for im in scaled), height))
    photo.paste(scaled[0], (0, 0))
    photo.paste(scaled[1], (scaled[0].width, 0))
    return photo


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the photo (.png or .jpg)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    photo = two_portraits()
    photo.save(args.out)
    print(f"{args.out}: two public-domain portraits, {photo.width}x{photo.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
