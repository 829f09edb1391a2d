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


@pytest.mark.parametrize("figures", ["model_card.json", "model_card_through_detector.json", "face_size_shipped.json"])
def test_the_card_figures_were_computed_from_the_weights_that_ship(figures):
    recorded = json.loads((CARD_FIGURES.parent / figures).read_text())
    assert recorded["weights_sha256"] == shipped.SHIPPED_WEIGHTS_SHA256, f"regenerate docs/results/{figures}"


def test_the_model_card_quotes_the_detector_and_face_size_figures():
    from facestack.face_size import format_table
    from facestack.model_card import race_table, task_table

    card = (ROOT / "docs" / "model_card.md").read_text()
    through = json.loads((CARD_FIGURES.parent / "model_card_through_detector.json").read_text())
    assert task_table(through) in card and race_table(through) in card
    sweep = json.loads((CARD_FIGURES.parent / "face_size_shipped.json").read_text())
    assert format_table(sweep["rows"]) in card


def test_a_model_folder_written_by_export_model_loads_as_a_run_folder():
    """``--model`` takes an exported folder too (``weights.npz``, float16 widened): the same network."""
    from facestack.pipeline import load_classifier

    shipped_net, folder_net = load_shipped_classifier(), load_classifier(shipped_model_dir())
    assert folder_net.weights.name == "weights.npz"
    faces = np.random.default_rng(1).random((3, 1, 128, 128), dtype=np.float32)
    for ours, theirs in zip(shipped_net.classify(faces), folder_net.classify(faces)):
        np.testing.assert_array_equal(ours, theirs)
