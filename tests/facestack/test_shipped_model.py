"""The shipped age/gender model: small, pickle-free, checksummed, and its card's figures reproducible.

``docs/results/model_card.json`` is what ``facestack evaluate --json`` printed for the
shipped weights; docs/model_card.md quotes it. The last test recomputes it from the
weights on the UTKFace test split (skipped without the data).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facestack import shipped
from facestack.shipped import ModelIntegrityError, file_sha256, load_shipped_classifier, shipped_model_dir

ROOT = Path(__file__).resolve().parents[2]
CARD_FIGURES = ROOT / "docs" / "results" / "model_card.json"
MAX_BYTES = 10 * 1024 * 1024


def test_the_weights_are_small_float16_arrays_without_pickles():
    weights = shipped_model_dir() / "weights.npz"
    assert weights.stat().st_size <= MAX_BYTES
    with np.load(weights, allow_pickle=False) as archive:
        assert archive.files and all(archive[name].dtype == np.float16 for name in archive.files)


def test_the_checksum_in_the_code_is_the_shipped_file_and_a_changed_file_is_refused(tmp_path):
    assert file_sha256(shipped_model_dir() / "weights.npz") == shipped.SHIPPED_WEIGHTS_SHA256
    classifier = load_shipped_classifier()
    assert classifier.age_names == ["0-30", "31-45", "46-60", "61-100"]
    assert classifier.gender_names == ("male", "female")
    copy = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), copy)
    data = bytearray((copy / "weights.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        load_shipped_classifier(copy)


def test_the_shipped_network_labels_the_shipped_photo():
    import facestack

    faces = facestack.analyze(str(ROOT / "facestack" / "assets" / "two_portraits.jpg"))
    assert len(faces) == 2
    for face in faces:
        assert face["gender"] in ("male", "female") and 0.5 <= face["gender_prob"] <= 1.0
        assert sum(face["age_probs"].values()) == pytest.approx(1.0, abs=1e-6)
        assert face["age_bin"] == max(face["age_probs"], key=face["age_probs"].get)


def test_facestack_evaluate_reproduces_the_model_card(utkface_dir):
    """The card's UTKFace figures come from the shipped weights: recomputed, they are equal."""
    from facestack.evaluate import evaluate_on_utkface

    expected = json.loads(CARD_FIGURES.read_text())
    result = evaluate_on_utkface(load_shipped_classifier(), str(utkface_dir))  # the cache of $FACESTACK_CACHE
    assert result["faces"] == expected["faces"]
    for task in ("gender", "age"):
        assert result["tasks"][task]["accuracy"] == pytest.approx(expected["tasks"][task]["accuracy"], abs=1e-9)
        assert result["tasks"][task]["confusion"] == expected["tasks"][task]["confusion"]
    assert result["race_groups"] == expected["race_groups"]


def test_the_model_card_quotes_the_figures_the_code_produced():
    from facestack.model_card import race_table, task_table

    figures = json.loads(CARD_FIGURES.read_text())
    card = (ROOT / "docs" / "model_card.md").read_text()
    assert task_table(figures) in card and race_table(figures) in card
