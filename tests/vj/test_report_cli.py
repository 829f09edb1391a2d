"""``vj report``: a training's sidecar as a per-stage table, with the totals a training is judged by."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from tests.vj_cascade.synthetic import synthetic_backgrounds, synthetic_faces

from vj.cli import main
from vj.cli_report import stage_table
from vj.train_record import read_sidecar


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real two-stage training of synthetic 12 x 12 faces; returns its cascade path."""
    root = tmp_path_factory.mktemp("report")
    (root / "faces").mkdir()
    (root / "bg").mkdir()
    for i, face in enumerate(synthetic_faces(120)):
        Image.fromarray(face).save(root / "faces" / f"{i:03d}.png")
    for i, image in enumerate(synthetic_backgrounds(6)):
        Image.fromarray(image).save(root / "bg" / f"{i}.png")
    out = root / "c.xml"
    assert main(["train", "--pos", str(root / "faces"), "--neg", str(root / "bg"), "--window", "12",
                 "--stages", "2", "--num-pos", "100", "--num-neg", "60", "--min-positives", "10",
                 "--out", str(out)]) == 0
    return out


def test_the_table_has_a_row_per_stage_and_totals_that_add_up(trained, capsys):
    capsys.readouterr()
    assert main(["report", str(trained)]) == 0
    printed = capsys.readouterr().out
    record = read_sidecar(trained.with_name(trained.name + ".train.json"))
    rows = [line for line in printed.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(row.split("|")[1]) for row in rows] == [1, 2]
    assert [int(row.split("|")[2]) for row in rows] == [s["num_weak"] for s in record["stages"]]
    weak = sum(s["num_weak"] for s in record["stages"])
    seconds = sum(s["seconds"] for s in record["stages"])
    assert printed.strip().splitlines()[-1].startswith(f"2 stages, {weak:,} weak classifiers, {seconds:,.0f} s")
    assert "whole training" in printed and "stop: trained 2 stages" in printed


def test_a_sidecar_kept_under_another_name_and_the_first_stages_only(trained, tmp_path, capsys):
    kept = tmp_path / "train.json"
    shutil.copy(trained.with_name(trained.name + ".train.json"), kept)
    capsys.readouterr()
    assert main(["report", str(kept), "--stages", "1"]) == 0
    printed = capsys.readouterr().out
    record = json.loads(kept.read_text())
    assert printed == stage_table(record, 1) + "\n"
    assert "(the first 1 of the sidecar's 2 stages)" in printed and "whole training" not in printed


def test_bad_input_is_one_line(trained, tmp_path, capsys):
    assert main(["report", str(trained), "--stages", "5"]) == 2
    assert capsys.readouterr().err.strip() == (f"vj report: error: --stages 5: "
                                               f"{trained.with_name(trained.name + '.train.json')} "
                                               "records only 2 stages")
    assert main(["report", str(tmp_path / "none.xml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vj report: error: {tmp_path / 'none.xml.train.json'}: no training sidecar")
    assert len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["report", str(broken)]) == 1
    assert "not a readable training record" in capsys.readouterr().err
