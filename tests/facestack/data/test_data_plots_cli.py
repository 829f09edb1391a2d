"""The age-distribution figure and the ``python -m facestack.data`` command line."""
from __future__ import annotations

import numpy as np

from facestack.data import PAPER_AGE_BINS, count_by_bin_and_gender, plot_age_distribution
from facestack.data.__main__ import main


def test_figure_bars_are_the_counts(tmp_path):
    rng = np.random.default_rng(0)
    ages, gender = rng.integers(0, 110, 400), rng.integers(0, 2, 400)
    path = tmp_path / "fig" / "ages.png"
    figure = plot_age_distribution(ages, gender, "paper", path=path)
    assert path.is_file() and path.stat().st_size > 1000
    axes = figure.axes[0]
    heights = [round(p.get_height()) for p in axes.patches]
    table = count_by_bin_and_gender(ages, gender, PAPER_AGE_BINS)
    assert heights == table[:4, 0].tolist() + table[:4, 1].tolist()
    assert [t.get_text() for t in axes.get_xticklabels()] == PAPER_AGE_BINS.labels()
    assert f"{int(table[4].sum())} outside" in axes.get_title()


def test_cli_builds_cache_split_report_and_figure(tmp_path, utk_folder, capsys):
    figure = tmp_path / "ages.png"
    code = main(["build", "--data", str(utk_folder.parent), "--cache-dir", str(tmp_path / "cache"),
                 "--size", "16", "--workers", "1", "--figure", str(figure)])
    out = capsys.readouterr().out
    assert code == 0 and figure.is_file()
    assert "repaired '39_1_20170116174525125.jpg.chip.jpg' (race field missing)" in out
    assert "bad files: 0 of 29" in out and "[61,100]" in out and "split (seed 0): train" in out
    assert len(list((tmp_path / "cache").glob("utkface-*/split-paper-*.npz"))) == 1
