"""Face data for the age/gender networks: readers, labels, bins, cache, split, loader, figure.

Typical use::

    from minicnn import data
    faces = data.read_faces("../shared/data/utkface")          # or a wiki_crop folder
    cache = data.build_cache(faces, data.PreprocessSettings(size=128, color="gray"))
    split = data.split_for_cache(cache, bins="paper", seed=0)
    train = data.BatchLoader(cache.images, cache.labels("paper"), split.train,
                             batch_size=64, augment=data.Augment(), device="cpu")
    for batch in train: ...   # batch.x float32 (64, 1, 128, 128) in [0, 1]

Label convention (see :mod:`facestack.data.labels`): gender 0 = male, 1 = female
(UTKFace's; IMDB-WIKI's 1 = male is mapped), -1 = unknown; age in whole years.
"""
from .augment import Augment
from .photo_augment import PhotoAugment
from .cache import FaceCache, build_cache, cache_key, default_cache_dir, open_cache
from .dataset import FaceDataset, ReadReport
from .download import WIKI_CROP_URL, ChecksumError, download, download_file, extract_archive
from .imdb_wiki import ImdbWikiCleaning, matlab_datenum_to_year, read_imdb_wiki
from .labels import (
    CODE_AGE_BINS,
    FEMALE,
    MALE,
    PAPER_AGE_BINS,
    UNKNOWN,
    AgeBins,
    age_bins,
    count_by_bin_and_gender,
    format_counts,
    gender_from_imdb_wiki,
)
from .loader import Batch, BatchLoader, channel_mean_std
from .plots import plot_age_distribution
from .preprocess import PreprocessSettings, load_face_image
from .sources import detect_format, read_faces
from .split import Split, split_for_cache, stratified_split
from .utkface import parse_utkface_name, read_utkface

__all__ = [
    "Augment", "PhotoAugment", "FaceCache", "build_cache", "cache_key", "default_cache_dir", "open_cache",
    "FaceDataset", "ReadReport", "WIKI_CROP_URL", "ChecksumError", "download", "download_file",
    "extract_archive", "ImdbWikiCleaning", "matlab_datenum_to_year", "read_imdb_wiki",
    "CODE_AGE_BINS", "FEMALE", "MALE", "PAPER_AGE_BINS", "UNKNOWN", "AgeBins", "age_bins",
    "count_by_bin_and_gender", "format_counts", "gender_from_imdb_wiki", "Batch", "BatchLoader",
    "channel_mean_std", "plot_age_distribution", "PreprocessSettings", "load_face_image",
    "detect_format", "read_faces", "Split", "split_for_cache", "stratified_split",
    "parse_utkface_name", "read_utkface",
]
