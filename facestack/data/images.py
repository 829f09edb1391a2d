"""Image files read with a pixel budget: the size comes from the header, before any decoding.

Pillow reads an image's size when it opens the file and decodes the pixels only when
they are asked for, so :func:`read_image` refuses an image over the budget (or, when asked,
decodes a JPEG at a reduced scale) before a single pixel is allocated. A 178-megapixel
image, just under Pillow's own limit, took about 5 GB through detection in a user trial; the budget
(:data:`facestack.analysis.MAX_PIXELS`, 50 megapixels, by default) bounds that.
Every way a file can be unreadable is one ValueError naming it.
"""
from __future__ import annotations

import math
import os
import re
import warnings

from PIL import Image

from ..analysis import MAX_PIXELS
from ..cli import describe_error


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS, downscale: bool = False) -> Image.Image:
    """An image file as RGB, its size checked against ``max_pixels`` from the header, before decoding.

    Args:
        max_pixels: the pixel budget (width x height).
        downscale: shrink an image over the budget instead of refusing it: a JPEG is decoded
            at 1/2, 1/4 or 1/8 scale (Pillow's draft mode, never at full size); another format
            is decoded whole only up to 4 times the budget, then shrunk.
    Raises:
        FileNotFoundError: no such file. ValueError: not a readable image, or over the budget.
    """
    try:
        with warnings.catch_warnings():  # Pillow's bomb warning: the budget below is the check that counts
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            source = Image.open(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image: {path}") from None
    except Image.DecompressionBombError as error:  # Pillow refuses over twice its own limit, before we see the size
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow opens"
        raise ValueError(f"{path}: {size}, over the budget of {max_pixels:,} (--max-pixels) and over Pillow's "
                         "own limit: shrink it first") from None
    except MemoryError:
        raise
    except Exception as error:  # Pillow's plug-ins raise many types on damaged files: all mean "unreadable"
        raise ValueError(f"cannot read image {path}: {describe_error(error)}") from None
    with source:
        width, height = source.size
        pixels = width * height
        over = pixels > max_pixels
        if over and not downscale:
            raise ValueError(f"{path}: {width}x{height} = {pixels:,} pixels, over the budget of {max_pixels:,} "
                             "(--max-pixels): shrink it first, or pass --downscale")
        factor = math.ceil(math.sqrt(pixels / max_pixels)) if over else 1
        if over and source.format == "JPEG":
            source.draft("RGB", (max(1, width // factor), max(1, height // factor)))
        elif over and pixels > 4 * max_pixels:
            raise ValueError(f"{path}: {width}x{height} = {pixels:,} pixels is over 4 times the budget of "
                             f"{max_pixels:,} (--max-pixels) and only a JPEG can be decoded at a reduced scale")
        try:
            image = source.convert("RGB")
        except MemoryError:
            raise
        except Exception as error:
            raise ValueError(f"cannot read image {path}: {describe_error(error)}") from None
    if image.size[0] * image.size[1] > max_pixels:
        image = image.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)
    return image
