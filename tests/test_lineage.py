"""`deepres models` and deepres.lineage: a model file's identity and the training runs it records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deepres import cli
from deepres.lineage import lineage, read_model_info, shipped_infos
from deepres.model import average_models, build_untrained, load_model, save_model
from deepres.outputs import sha256_file


def _record(steps, seconds, device, init=None, lr=1e-3, mae=0.5, dirs=()):
    rec = {"config": {"steps": steps, "lr": lr, "batch": 4, "seed": steps, "precision": "float32"},
           "train_seconds": seconds, "n_train_samples": 10 * steps, "n_val_samples": 48, "data_dirs": list(dirs),
           "history": [{"mae_A": mae + 0.1, "step": steps // 2}, {"mae_A": mae, "step": steps}], "init": init}
    if device is not None:
        rec["device"] = device
    return rec


def _chain():
    """Three runs: from random weights (device not recorded), then a GPU run, then a CPU run."""
    first = _record(100, 1000.0, None)
    second = _record(200, 30.0, "NVIDIA H200", init={"model_id": "m-v1", "sha256": "a" * 64, "training": first})
    return _record(300, 2000.0, "cpu", init={"model_id": "m-v2", "sha256": "b" * 64, "training": second},
                   mae=0.3, dirs=("set_a", "set_b"))


def test_lineage_unrolls_the_init_chain_oldest_first():
    stages = lineage("m-v3", _chain())
    assert [s.model_id for s in stages] == ["m-v1", "m-v2", "m-v3"]
    assert [s.steps for s in stages] == [100, 200, 300]
    assert [s.device for s in stages] == [None, "NVIDIA H200", "cpu"]
    assert stages[-1].data_dirs == ("set_a", "set_b")
    assert stages[-1].val_mae_A == pytest.approx(0.3)  # the last validation, not the first
    assert stages[0].n_train_maps == 1000


def test_a_saved_file_reports_its_identity_and_totals(tmp_path):
    m = build_untrained("high", seed=1)
    path = tmp_path / "m.pt"
    save_model(str(path), m.spec, m.net, m.features, _chain(), "m-v3")
    info = read_model_info(str(path))
    assert info.model_id == "m-v3" and info.range_name == "high" and not info.half_maps
    assert info.sha256 == sha256_file(path)
    assert info.n_parameters == m.n_parameters
    assert info.file_bytes == path.stat().st_size
    t = info.totals()
    assert t["runs"] == 3 and t["steps"] == 600
    assert t["train_seconds"] == pytest.approx(3030.0)
    assert t["train_seconds_by_device"] == pytest.approx({"not recorded": 1000.0, "NVIDIA H200": 30.0, "cpu": 2000.0})


def test_a_weight_average_names_its_members(tmp_path):
    paths = []
    for seed in (1, 2):
        m = build_untrained("low", seed=seed)
        p = tmp_path / f"m{seed}.pt"
        save_model(str(p), m.spec, m.net, m.features, _record(50, 10.0, "cpu"), f"m-seed{seed}")
        paths.append(str(p))
    average_models(paths, str(tmp_path / "avg.pt"), "m-avg")
    info = read_model_info(str(tmp_path / "avg.pt"))
    assert [s.model_id for s in info.stages] == ["m-avg"]
    assert info.stages[0].note == "weight average of m-seed1, m-seed2"
    assert info.totals()["steps"] == 0


def test_shipped_models_are_listed_with_the_ids_their_files_hold():
    infos = shipped_infos()
    assert [(i.range_name, i.half_maps) for i in infos] == [("low", False), ("low", True), ("high", False), ("high", True)]
    for info in infos:
        loaded = load_model(info.range_name, half_maps=info.half_maps)
        assert (info.model_id, info.sha256, info.n_parameters) == (loaded.model_id, loaded.sha256, loaded.n_parameters)
        assert info.stages and info.stages[-1].model_id == info.model_id
        assert info.stages[0].steps and info.totals()["train_seconds"] > 0


def test_cli_models_json_and_lineage(tmp_path, capsys):
    m = build_untrained("low", seed=3)
    path = tmp_path / "m.pt"
    save_model(str(path), m.spec, m.net, m.features, _chain(), "m-v3")
    assert cli.main(["models", "--json", str(path), "high_halves"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["model_id"] for o in out] == ["m-v3", load_model("high", half_maps=True).model_id]
    assert out[0]["totals"]["steps"] == 600
    assert cli.main(["models", "--lineage", str(path)]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split(" | ")[1] for r in rows] == ["m-v1", "m-v2", "m-v3"]
    assert "In all: 3 runs, 600 steps" in text


@pytest.mark.parametrize("what", ["nonesuch", "file"])
def test_cli_models_bad_argument_is_one_line_exit_2(tmp_path, capsys, what):
    arg = "nonesuch"
    if what == "file":
        arg = str(tmp_path / "notes.pt")
        (tmp_path / "notes.pt").write_text("not a model\n")
    assert cli.main(["models", arg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepres: error: ") and err.count("\n") == 1 and arg in err


def test_a_model_file_of_another_format_is_refused(tmp_path, capsys):
    path = tmp_path / "other.pt"
    torch.save({"format": "something-else/1", "state_dict": {}}, path)
    assert cli.main(["models", str(path)]) == 2
    assert "not a deepres model file" in capsys.readouterr().err


def test_a_reranged_start_loads_in_the_other_range_and_says_where_it_came_from(tmp_path):
    m = build_untrained("low", seed=4)
    src, dst = tmp_path / "low.pt", tmp_path / "high_start.pt"
    save_model(str(src), m.spec, m.net, m.features, _record(50, 10.0, "cpu"), "m-low")
    script = Path(__file__).resolve().parents[1] / "scripts" / "rerange_model.py"
    subprocess.run([sys.executable, str(script), str(src), str(dst), "high", "m-high-start"], check=True,
                   capture_output=True)
    start = load_model("high", path=str(dst))
    assert start.model_id == "m-high-start" and (start.net.config.min_A, start.net.config.max_A) == (1.5, 6.0)
    for k, v in m.net.state_dict().items():
        assert torch.equal(start.net.state_dict()[k], v)
    assert read_model_info(str(dst)).stages[-1].note == "weights of m-low (low), made a start for the other range"
    again = subprocess.run([sys.executable, str(script), str(dst), str(tmp_path / "x.pt"), "high", "x"],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "already a high model" in again.stderr
