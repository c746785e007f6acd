"""The result is a zoo model whose card names base, data (sha256), method and errors; the CLI drives it."""

import json

from ase.io import write

from unihub.finetune.forgetting import forgetting_table, write_report
from unihub.zoo import load_model


def test_output_folder_loads_with_its_card(base, ft_frames, pretrain, tmp_path):
    from unihub.finetune import finetune
    from unihub.foundation.files import sha256_file as file_sha256

    data = tmp_path / "mine.extxyz"
    atoms = [f.to_atoms() for f in ft_frames]
    for k, a in enumerate(atoms):
        a.info["split"] = "test" if k >= 9 else "train"
    write(data, atoms, format="extxyz")
    out = tmp_path / "ft"
    tuned = finetune(base, data, epochs=2, lr=5e-3, replay=4, pretraining=pretrain, eval_pretraining=2,
                     output=out, check_units=False, read_options={"split_key": "split"})
    loaded = load_model(out)
    assert loaded.card["base_model"] == base.name
    body = loaded.card["body"]
    assert file_sha256(data) in body and "replay: 4" in body and "| before (" in body and "| after |" in body
    ft = loaded.extra_config["finetune"]
    assert ft["data_sha256"] == file_sha256(data) and ft["errors"]["finetune_set"] == "test"
    assert ft["errors"]["after"]["frames"] == 3
    assert set(ft["errors"]["pretrain_after"]) == {"cu", "cuni", "alni", "cunial"}
    for name in ("forgetting.png", "forgetting.md", "forgetting.json"):
        assert (out / "report" / name).stat().st_size > 0
    assert loaded.state_dict().keys() == tuned.state_dict().keys()


def test_forgetting_table_relative_rise(tmp_path):
    res = {"base": {"finetune_test": {"forces_mev_a": 100.0, "energy_mev_atom": 10.0, "frames": 3},
                    "pretrain": {"a": {"forces_mev_a": 50.0}, "b": {"forces_mev_a": 150.0}}},
           "naive": {"finetune_test": {"forces_mev_a": 40.0, "energy_mev_atom": 5.0, "frames": 3},
                     "pretrain": {"a": {"forces_mev_a": 60.0}, "b": {"forces_mev_a": 180.0}}}}
    rows = {r["model"]: r for r in forgetting_table(res, "base")}
    assert rows["base"]["pretrain_force_rise"] == 0 and abs(rows["naive"]["pretrain_force_rise"] - 0.2) < 1e-12
    write_report(res, tmp_path)
    assert "+20.0%" in (tmp_path / "forgetting.md").read_text()
    assert json.loads((tmp_path / "forgetting.json").read_text())["rows"][1]["model"] == "naive"


def test_cli_parses_and_runs(base, ft_frames, tmp_path):
    from unihub.cli import build_parser

    base_dir = base.save(tmp_path / "base")
    data = tmp_path / "d.extxyz"
    write(data, [f.to_atoms() for f in ft_frames], format="extxyz")
    args = build_parser().parse_args(["finetune", str(base_dir), str(data), "-o", str(tmp_path / "out"),
                                      "--freeze", "embeddings", "--lr-factors", "readout=2", "--epochs", "1",
                                      "--e0", '{"Cu": -3.0}', "--no-progress"])
    assert args.lr_factors == {"readout": 2.0} and args.e0 == {"Cu": -3.0}
    assert args.func(args) == 0
    assert load_model(tmp_path / "out").extra_config["finetune"]["method"]["freeze"] == ["elements", "fidelity"]


def test_every_flag_an_error_message_names_exists(capsys):
    """Refusals recommend flags (--no-check-units, --overwrite, --resume, ...): each must parse."""
    import re
    from pathlib import Path

    import unihub.finetune as pkg
    from unihub.cli import build_parser

    src = Path(pkg.__file__).parent
    named = {m for f in src.glob("*.py") for m in re.findall(r"(--[a-z][a-z-]+)", f.read_text())}
    assert {"--no-check-units", "--overwrite", "--resume"} <= named
    finetune_parser = build_parser()._subparsers._group_actions[0].choices["finetune"]
    known = {s for a in finetune_parser._actions for s in a.option_strings}
    assert named <= known, named - known
    assert {"--format", "--read-option", "--check-units"} <= known
    args = build_parser().parse_args(["finetune", "b", "d", "-o", "o", "--format", "extxyz", "--read-option",
                                      "energy_key=REF_energy", "--read-option", "split_key=split",
                                      "--no-check-units", "--resume"])
    assert (args.format, args.check_units, args.resume) == ("extxyz", False, True)
    assert dict(args.read_option) == {"energy_key": "REF_energy", "split_key": "split"}
