"""Bad input at the door, over the API and the CLI: each case asserts the exception type (or exit status 2
with one line on stderr), the words of the message, and that no file was created, changed or left
half-written in the folder the case works in (its inputs, its outputs and unihub's cache all live there).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from unihub.cli import main
from unihub.foundation.errors import InputError, InputTypeError, MissingInputError, UnihubError
from unihub.foundation.files import sha256_file

SHIPPED = Path(__file__).resolve().parents[1] / "zoo" / "models" / "universal-v1"


# -- the snapshot: every path under a folder, with its mtime and sha256 -------------------------------------------

def snapshot(root: Path) -> dict[str, tuple[int, str] | str]:
    """``{relative path: (mtime_ns, sha256)}`` for files and ``"dir"`` for folders under ``root``."""
    out: dict[str, tuple[int, str] | str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else (p.stat().st_mtime_ns, sha256_file(p))
    return out


def assert_untouched(before: dict, root: Path) -> None:
    """Nothing under ``root`` was created (a half-written temporary included), changed or removed."""
    after = snapshot(root)
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (created or removed or changed), f"created {created}, removed {removed}, changed {changed}"


# -- the inputs every case may use -----------------------------------------------------------------------------------

def _labelled(atoms: Atoms, energy: float) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)))
    return atoms


def _model_copy(box: Path, name: str) -> Path:
    folder = box / name
    folder.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(SHIPPED / f, folder / f)
    return folder


def make_inputs(box: Path) -> None:
    """Good and bad structure files, broken model folders, broken registries and configs."""
    cu = bulk("Cu", "fcc", 3.6, cubic=True)
    write(box / "cu.cif", cu)
    write(box / "good.xyz", [_labelled(cu, -14.0), _labelled(cu, -13.9)], format="extxyz")
    text = (box / "good.xyz").read_text()
    (box / "trunc.xyz").write_text(text[: len(text) * 3 // 4])
    (box / "empty.xyz").write_bytes(b"")
    (box / "binary.xyz").write_bytes(bytes(np.random.default_rng(0).integers(128, 256, 400, dtype=np.uint8)))
    (box / "gz.xyz").write_bytes(gzip.compress(text.encode()))
    write(box / "nan.xyz", _labelled(cu, float("nan")), format="extxyz")
    write(box / "ghost.xyz", _labelled(Atoms("CuX", positions=[[0, 0, 0], [2.5, 0, 0]]), -1.0), format="extxyz")
    (box / "notes.abc").write_text("not a structure\n")
    write(box / "existing.xyz", cu, format="extxyz")
    (box / "afile.txt").write_text("a file where a folder is expected\n")
    torch.save({"w": torch.zeros(2)}, box / "model.pt")
    header = _model_copy(box, "bad_header") / "model.safetensors"
    header.write_bytes(b"\xff" * 8 + header.read_bytes()[8:200])
    (_model_copy(box, "empty_weights") / "model.safetensors").write_bytes(b"")
    pickled = _model_copy(box, "pickled")
    (pickled / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, pickled / "model.pt")
    (_model_copy(box, "bad_config") / "config.json").write_text("{oops")
    (_model_copy(box, "odd_type") / "config.json").write_text(json.dumps({"model_type": "nequip"}))
    (box / "not_a_model").mkdir()
    (box / "reg_bad.json").write_text("{not json")
    (box / "reg_nomodels.json").write_text(json.dumps({"entries": {}}))
    (box / "reg_badentry.json").write_text(json.dumps({"models": {"mine": {"loc": "./x"}}}))
    (box / "bad.yaml").write_text("model: [unclosed\n")
    (box / "list.yaml").write_text("- model\n- data\n")
    (box / "unknown.yaml").write_text("modle:\n  features: 8\n")


@pytest.fixture(scope="module")
def model():
    from unihub.zoo import load_model

    return load_model("universal-v1")


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A folder holding the inputs and unihub's cache, made the working directory; offline."""
    box = tmp_path / "box"
    box.mkdir()
    make_inputs(box)
    monkeypatch.chdir(box)
    monkeypatch.setenv("UNIHUB_CACHE", str(box / "cache"))  # a cache write shows up as a created file
    monkeypatch.setenv("UNIHUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("UNIHUB_REGISTRY", raising=False)
    return box


# -- the API ---------------------------------------------------------------------------------------------------------

def _load(*args, **kw):
    from unihub.zoo import load_model

    return lambda c: load_model(*args, **kw)


def _with_registry(value: str):
    def case(c):
        c.monkeypatch.setenv("UNIHUB_REGISTRY", value)
        from unihub.zoo import load_model

        return load_model("universal-v1")
    return case


def _energy(atoms: Atoms, **calc_kw):
    def case(c):
        atoms.calc = c.model.calculator(**calc_kw)
        return atoms.get_potential_energy()
    return case


def _frame(n: int, **labels):
    from unihub.foundation.data import Frame

    return lambda c: Frame(np.full(n, 14), np.arange(n * 3.0).reshape(n, 3), np.eye(3) * 9, True, **labels)


def _read(name: str, **kw):
    from unihub.foundation.data import read_frames

    return lambda c: read_frames(name, **kw)


def _structure(name: str):
    from unihub.foundation.data import read_structure

    return lambda c: read_structure(name)


def _yaml(name: str):
    from unihub.foundation.training.config import TrainConfig

    return lambda c: TrainConfig.from_yaml(name)


def _from_atoms(c):
    from unihub.foundation.data import Frame

    si = Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]])
    si.calc = SinglePointCalculator(si, energy=-9.0, forces=np.zeros((3, 3)))
    return Frame.from_atoms(si)


def _md(**kw):
    def case(c):
        from unihub.foundation.simulate import md

        return md(bulk("Cu", cubic=True), calculator=c.model.calculator(), **{"temperature": 300, "steps": 2, **kw})
    return case


def _relax(**kw):
    def case(c):
        from unihub.foundation.simulate import relax

        atoms = bulk("Cu", cubic=True)
        atoms.calc = c.model.calculator()
        return relax(atoms, **kw)
    return case


def _card(name: str):
    from unihub.foundation.data import load_card

    return lambda c: load_card(name)


def _dataset(name: str):
    from unihub.foundation.data import load_dataset

    return lambda c: load_dataset(name)


def _check_output(path: str, *inputs: str):
    from unihub.foundation.files import check_output

    return lambda c: check_output(path, inputs)


def _check_output_dir(path: str):
    from unihub.foundation.files import check_output_dir

    return lambda c: check_output_dir(path)


def _list_cards(role: str):
    from unihub.foundation.data import list_cards

    return lambda c: list_cards(role)


SI2 = Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]])
SAFETENSORS_ONLY = r"loads weights only from safetensors.*save_file\(torch\.load\("

API_CASES = [
    # load_model: arguments
    pytest.param(_load("universal-v1", head=True), InputTypeError, r"head must be a head name.*got True",
                 id="load_model-head-True"),
    pytest.param(_load("universal-v1", head=1.5), InputTypeError, r"head must be .*got 1\.5",
                 id="load_model-head-float"),
    pytest.param(_load("universal-v1", head=99), InputError, r"head index 99 out of range 0\.\.4; heads are \['pbe'",
                 id="load_model-head-99"),
    pytest.param(_load("universal-v1", head="hse06"), InputError, r"unknown fidelity head 'hse06'; this model has",
                 id="load_model-head-unknown"),
    pytest.param(_load("universal-v1", dtype="float16"), InputError,
                 r"dtype 'float16' is not supported; use one of \['double', .*torch\.float64", id="load_model-float16"),
    pytest.param(_load("universal-v1", dtype=torch.float16), InputError,
                 r"dtype torch\.float16 is not supported; use torch\.float32 or torch\.float64",
                 id="load_model-torch-float16"),
    pytest.param(_load("universal-v1", dtype="quad"), InputError, r"dtype 'quad' is not supported",
                 id="load_model-dtype-unknown"),
    pytest.param(_load(""), InputError, r"needs a model name .* or a path", id="load_model-empty-name"),
    pytest.param(_load("universl-v1"), InputError, r"unknown model 'universl-v1'; did you mean 'universal-v1'",
                 id="load_model-typo"),
    pytest.param(_load("./nope"), MissingInputError, r"no model at nope: give a registry name",
                 id="load_model-no-path"),
    pytest.param(_load("universal-v1", elements=["Cu"]), InputError, r"elements=\.\.\. is only for MTP students",
                 id="load_model-elements-universal"),
    pytest.param(_load("hf://"), InputError, r"not a Hub location: 'hf://'; expected hf://owner/repo",
                 id="load_model-hf-empty"),
    pytest.param(_load("hf://owner/repo"), MissingInputError, r"not in the Hugging Face cache and HF_HUB_OFFLINE",
                 id="load_model-hf-offline"),
    # load_model: files
    pytest.param(_load("./bad_header"), InputError,
                 r"bad_header/model\.safetensors is not a readable safetensors file .*header.*download or save",
                 id="load_model-corrupt-safetensors-header"),
    pytest.param(_load("./empty_weights"), InputError,
                 r"empty_weights/model\.safetensors is not a readable safetensors file", id="load_model-empty-weights"),
    pytest.param(_load("./model.pt"), InputError, r"model\.pt is a pickle, and unihub " + SAFETENSORS_ONLY,
                 id="load_model-pt-file"),
    pytest.param(_load("./pickled"), MissingInputError,
                 r"pickled/model\.safetensors is missing; pickled/model\.pt is a pickle.*" + SAFETENSORS_ONLY,
                 id="load_model-pt-beside-config"),
    pytest.param(_load("./bad_config"), InputError, r"bad_config/config\.json is not valid JSON",
                 id="load_model-config-not-json"),
    pytest.param(_load("./odd_type"), InputError, r"unknown model_type 'nequip'; unihub loads 'universal-painn'",
                 id="load_model-config-model-type"),
    pytest.param(_load("./not_a_model"), InputError, r"not_a_model is not a unihub model: expected a folder with",
                 id="load_model-empty-folder"),
    pytest.param(_load("./notes.abc"), InputError, r"notes\.abc is not a unihub model", id="load_model-text-file"),
    # UNIHUB_REGISTRY
    pytest.param(_with_registry("nowhere.json"), MissingInputError,
                 r"UNIHUB_REGISTRY names nowhere\.json, which does not exist; point it at", id="registry-missing"),
    pytest.param(_with_registry("reg_bad.json"), InputError,
                 r"UNIHUB_REGISTRY names reg_bad\.json, which is not readable JSON", id="registry-not-json"),
    pytest.param(_with_registry("reg_nomodels.json"), InputError,
                 r"UNIHUB_REGISTRY names reg_nomodels\.json, which lacks a 'models' object", id="registry-no-models"),
    pytest.param(_with_registry("reg_badentry.json"), InputError,
                 r"UNIHUB_REGISTRY .*entry 'mine' must be an object with 'location' and 'files'.*"
                 r"unknown keys \['loc'\]",
                 id="registry-bad-entry"),
    # the calculator
    pytest.param(lambda c: c.model.calculator(head=True), InputTypeError, r"head must be a head name.*got True",
                 id="calculator-head-True"),
    pytest.param(lambda c: c.model.calculator(head="b3lyp"), InputError, r"unknown fidelity head 'b3lyp'",
                 id="calculator-head-unknown"),
    pytest.param(_energy(Atoms(numbers=[14, 119], positions=[[0, 0, 0], [2.3, 0, 0]])), InputError,
                 r"atomic numbers \[119\] are outside Z=1\.\.118", id="calculator-Z119"),
    pytest.param(_energy(Atoms(numbers=[14, 0], positions=[[0, 0, 0], [2.3, 0, 0]])), InputError,
                 r"atomic numbers \[0\] are outside Z=1\.\.118", id="calculator-Z0"),
    pytest.param(_energy(Atoms()), InputError, r"empty structure: it has no atoms", id="calculator-empty"),
    pytest.param(_energy(Atoms("Si2", positions=[[0, 0, 0], [np.nan, 0, 0]])), InputError,
                 r"positions of atoms \[1\] are NaN or infinite", id="calculator-nan"),
    pytest.param(_energy(Atoms("Si2", positions=[[0, 0, 0], [0.05, 0, 0]])), InputError,
                 r"0\.05 Å apart .*overlapping atoms", id="calculator-overlap"),
    pytest.param(_energy(Atoms("Si", cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True)), InputError,
                 r"the cell is singular", id="calculator-singular-cell"),
    # predict
    pytest.param(lambda c: c.model.predict([SI2], head=True), InputTypeError, r"head must be a head name",
                 id="predict-head-True"),
    pytest.param(lambda c: c.model.predict("good.xyz"), InputTypeError,
                 r"got str; read the file first, e\.g\. ase\.io\.read", id="predict-path"),
    pytest.param(lambda c: c.model.predict(5), InputTypeError, r"expected ase\.Atoms or a pymatgen .* got int",
                 id="predict-int"),
    pytest.param(lambda c: c.model.predict([SI2, "x"]), InputTypeError, r"got str", id="predict-list-with-str"),
    # labels of the wrong shape
    pytest.param(_frame(2, forces=np.zeros((3, 3))), InputError,
                 r"forces have shape \(3, 3\), expected \(2, 3\), one row per atom", id="frame-forces-length"),
    pytest.param(_frame(4, forces=np.zeros((3, 4))), InputError, r"forces have shape \(3, 4\), expected \(4, 3\)",
                 id="frame-forces-transposed"),
    pytest.param(_frame(2, stress=np.zeros(4)), InputError, r"stress have shape \(4,\), expected \(3, 3\)",
                 id="frame-stress-size"),
    pytest.param(_from_atoms, InputError, r"forces have shape \(3, 3\), expected \(2, 3\)",
                 id="frame-from-atoms-forces"),
    # user data files
    pytest.param(_read("empty.xyz"), InputError, r"empty\.xyz holds no structures \(read as extxyz\)",
                 id="read_frames-empty"),
    pytest.param(_read("trunc.xyz"), InputError,
                 r"trunc\.xyz: cannot read it as extxyz after 1 structure\(s\): .*damaged or truncated",
                 id="read_frames-truncated"),
    pytest.param(_read("binary.xyz"), InputError, r"binary\.xyz: cannot read it as extxyz: it is not text",
                 id="read_frames-binary"),
    pytest.param(_read("gz.xyz"), InputError, r"gz\.xyz: .*it is not text .* decompress it", id="read_frames-gzip"),
    pytest.param(_read("missing.xyz"), MissingInputError, r"missing\.xyz does not exist", id="read_frames-missing"),
    pytest.param(_read("notes.abc"), InputError, r"notes\.abc: unknown file type; pass format= one of",
                 id="read_frames-unknown-type"),
    pytest.param(_read("good.xyz", format="xyzz"), InputError, r"unknown format 'xyzz'; use one of",
                 id="read_frames-unknown-format"),
    pytest.param(_read("nan.xyz"), InputError, r"nan\.xyz\[0\]: energy contains NaN", id="read_frames-nan-energy"),
    pytest.param(_read("ghost.xyz"), InputError, r"ghost\.xyz\[0\]: atomic numbers \[0\] are outside",
                 id="read_frames-ghost-atom"),
    pytest.param(_structure("empty.xyz"), InputError, r"empty\.xyz is empty", id="read_structure-empty"),
    pytest.param(_structure("binary.xyz"), InputError, r"binary\.xyz: cannot read it as a structure file: it is not",
                 id="read_structure-binary"),
    pytest.param(_structure("trunc.xyz"), InputError, r"trunc\.xyz: .*damaged or truncated",
                 id="read_structure-truncated"),
    pytest.param(_structure("notes.abc"), InputError, r"notes\.abc: ASE cannot tell its format",
                 id="read_structure-unknown-type"),
    pytest.param(_structure("."), MissingInputError, r"\. is not a file", id="read_structure-folder"),
    # data cards
    pytest.param(_card("mptrj_hi_typo"), LookupError, r"no data card named 'mptrj_hi_typo'; did you mean ",
                 id="card-unknown"),
    pytest.param(_dataset("nosuch_set"), LookupError, r"no data card named 'nosuch_set'", id="dataset-unknown"),
    pytest.param(_list_cards("teaching"), InputError, r"role must be one of", id="list_cards-role"),
    # training configs
    pytest.param(_yaml("none.yaml"), MissingInputError, r"no training config at none\.yaml", id="config-missing"),
    pytest.param(_yaml("bad.yaml"), InputError, r"bad\.yaml is not valid YAML", id="config-not-yaml"),
    pytest.param(_yaml("list.yaml"), InputError, r"list\.yaml holds a YAML list, not a mapping", id="config-list"),
    pytest.param(_yaml("unknown.yaml"), InputError, r"unknown top-level config keys \['modle'\]",
                 id="config-unknown-key"),
    # simulations and outputs
    pytest.param(_relax(fmax=0), InputError, r"fmax must be a positive force", id="relax-fmax"),
    pytest.param(_md(timestep=50), InputError, r"timestep must be in \(0, 10\] fs", id="md-timestep"),
    pytest.param(_md(ensemble="npe"), InputError, r"unknown ensemble 'npe'", id="md-ensemble"),
    pytest.param(_md(temperature=-5), InputError, r"temperature must be >= 0 K", id="md-temperature"),
    pytest.param(_check_output("existing.xyz"), InputError, r"existing\.xyz exists; pass --overwrite",
                 id="check_output-exists"),
    pytest.param(_check_output("cu.cif", "cu.cif"), InputError, r"cu\.cif is an input of this command",
                 id="check_output-input"),
    pytest.param(_check_output("afile.txt/out.xyz"), InputError,
                 r"afile\.txt/out\.xyz: the folder it goes in: afile\.txt is a file", id="check_output-under-file"),
    pytest.param(_check_output_dir("afile.txt/sub"), InputError, r"afile\.txt is a file, but the output is a folder",
                 id="check_output_dir-under-file"),
]


@pytest.mark.parametrize("call, exc, words", API_CASES)
def test_api_refuses(call, exc, words, box, model, monkeypatch):
    before = snapshot(box)
    with pytest.raises(exc, match=words) as info:
        call(SimpleNamespace(box=box, model=model, monkeypatch=monkeypatch))
    assert isinstance(info.value, UnihubError), type(info.value).__mro__
    assert_untouched(before, box)


# -- the CLI ---------------------------------------------------------------------------------------------------------

MD = ["md", "cu.cif", "--steps", "2"]

CLI_CASES = [
    # usage errors: argparse, one line
    pytest.param(["label", "x", "--batch-size", "0"],
                 r"^unihub label: error: argument --batch-size: must be >= 1, got 0",
                 id="label-batch-size-0"),
    pytest.param(["label", "x", "--shards", "0"], r"argument --shards: must be >= 1", id="label-shards-0"),
    pytest.param(["finetune", "universal-v1", "x.xyz", "-o", "ft", "--batch-size", "0"],
                 r"^unihub finetune: error: argument --batch-size: must be >= 1, got 0", id="finetune-batch-size-0"),
    pytest.param(["label", "x", "--n", "many"], r"argument --n: expected a whole number >= 1, got 'many'",
                 id="label-n-word"),
    pytest.param(["bogus"], r"^unihub: error: argument command: invalid choice: 'bogus'", id="unknown-command"),
    pytest.param([*MD, "-T", "warm"], r"argument -T/--temperature: invalid float value: 'warm'", id="md-T-word"),
    pytest.param([*MD, "--ensemble", "npe"], r"argument --ensemble: invalid choice: 'npe'", id="md-ensemble-choice"),
    pytest.param(["report", "universal-v1", "--threads", "0"], r"argument --threads: must be >= 1, got 0",
                 id="report-threads-0"),
    pytest.param(["report", "universal-v1", "--quick", "--full"], r"argument --full: not allowed with argument --quick",
                 id="report-quick-full"),
    pytest.param(["md"], r"the following arguments are required: structure", id="md-no-structure"),
    # the commands' own refusals
    pytest.param(["label", "x", "--shard", "2", "--shards", "2"], r"--shard must be in 0\.\.1, got 2",
                 id="label-shard-range"),
    pytest.param(["label", "x", "--n", "4", "--teachers", "nosuch"], r"unknown model 'nosuch'",
                 id="label-unknown-teacher"),
    pytest.param(["label", "x", "--n", "4", "--teachers", "universal-v1"],
                 r"teacher 'universal-v1' has no mptrj head; use a peer", id="label-teacher-without-mptrj"),
    pytest.param(["label", "x", "--card"], r"no labelling run in .*start one with 'unihub label x --n N'",
                 id="label-card-no-run"),
    pytest.param(["md", "missing.cif"], r"^unihub md: error: missing\.cif does not exist", id="md-missing"),
    pytest.param(["md", "empty.xyz"], r"empty\.xyz is empty", id="md-empty"),
    pytest.param(["md", "binary.xyz"], r"binary\.xyz: cannot read it as a structure file: it is not text",
                 id="md-binary"),
    pytest.param(["md", "trunc.xyz"], r"trunc\.xyz: cannot read it .*damaged or truncated", id="md-truncated"),
    pytest.param(["md", "notes.abc"], r"notes\.abc: ASE cannot tell its format", id="md-unknown-type"),
    pytest.param([*MD, "--model", "nosuch"], r"unknown model 'nosuch'", id="md-unknown-model"),
    pytest.param([*MD, "--head", "hse06"], r"unknown fidelity head 'hse06'", id="md-unknown-head"),
    pytest.param([*MD, "--model", "./model.pt"], r"model\.pt is a pickle, and unihub " + SAFETENSORS_ONLY,
                 id="md-pt-model"),
    pytest.param([*MD, "--model", "./bad_header"], r"bad_header/model\.safetensors is not a readable safetensors",
                 id="md-corrupt-safetensors"),
    pytest.param([*MD, "--timestep", "50"], r"timestep must be in \(0, 10\] fs", id="md-timestep"),
    pytest.param([*MD, "--trajectory", "cu.cif"], r"cu\.cif is an input of this command", id="md-trajectory-input"),
    pytest.param([*MD, "--trajectory", "existing.xyz"], r"existing\.xyz exists; pass --overwrite",
                 id="md-trajectory-exists"),
    pytest.param([*MD, "--trajectory", "afile.txt/out.xyz"], r"afile\.txt is a file, but the output is a folder",
                 id="md-trajectory-under-file"),
    pytest.param([*MD, "--trajectory", "not_a_model", "--overwrite"], r"not_a_model is a folder; name a file in it",
                 id="md-trajectory-folder"),
    pytest.param([*MD, "--trajectory", "out.unknownext"], r"cannot write a trajectory format named by out\.unknownext",
                 id="md-trajectory-format"),
    pytest.param(["report", "universal-v1", "-o", "afile.txt"],
                 r"^unihub report: error: -o afile\.txt: afile\.txt is a file, but the output is a folder",
                 id="report-o-existing-file"),
    pytest.param(["report", "nosuch", "-o", "out"], r"unknown model 'nosuch'", id="report-unknown-model"),
    pytest.param(["report", "universal-v1", "--suites", "eoss", "-o", "out"], r"unknown suite 'eoss'",
                 id="report-unknown-suite"),
    pytest.param(["demo", "--model", "nosuch", "-o", "dout"], r"unknown model 'nosuch'", id="demo-unknown-model"),
    pytest.param(["demo", "-o", "afile.txt"], r"afile\.txt is a file, but the output is a folder",
                 id="demo-o-existing-file"),
    pytest.param(["publish", "nosuch", "--repo", "me/x"], r"unknown model 'nosuch'", id="publish-unknown-model"),
    pytest.param(["release", "mine", "--from", "not_a_model"], r"--from not_a_model: no trained model there",
                 id="release-from-empty-folder"),
    pytest.param(["train", "none.yaml"], r"no training config at none\.yaml", id="train-missing-config"),
    pytest.param(["train", "bad.yaml"], r"bad\.yaml is not valid YAML", id="train-bad-yaml"),
    pytest.param(["train", "unknown.yaml"], r"unknown top-level config keys \['modle'\]", id="train-unknown-key"),
    pytest.param(["finetune", "universal-v1", "good.xyz", "-o", "ft", "--config", "none.yaml"],
                 r"no fine-tune config at none\.yaml", id="finetune-missing-config"),
    pytest.param(["finetune", "universal-v1", "good.xyz", "-o", "ft", "--config", "unknown.yaml", "--epochs", "1"],
                 r"unknown top-level config keys \['modle'\]", id="finetune-config-unknown-key"),
    pytest.param(["distill", "universal-v1", "--elements", "Cu", "-o", "x.mtp", "--config", "list.yaml"],
                 r"list\.yaml holds a YAML list, not a mapping of sections \(sampling, fit, active and settings\)",
                 id="distill-config-list"),
]


@pytest.mark.parametrize("argv, words", CLI_CASES)
def test_cli_refuses(argv, words, box, capsys):
    before = snapshot(box)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(words, lines[0]), lines[0]
    assert_untouched(before, box)


@pytest.mark.parametrize("variable, words", [
    pytest.param("nowhere.json", r"UNIHUB_REGISTRY names nowhere\.json, which does not exist", id="missing"),
    pytest.param("reg_bad.json", r"UNIHUB_REGISTRY names reg_bad\.json, which is not readable JSON", id="not-json"),
])
def test_cli_bad_registry(variable, words, box, capsys, monkeypatch):
    monkeypatch.setenv("UNIHUB_REGISTRY", variable)
    before = snapshot(box)
    assert main(["list"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(words, lines[0]), lines
    assert_untouched(before, box)


def test_cli_publish_offline(box, capsys, monkeypatch):
    """The Hub client's refusal is one line naming the repo and what to check; nothing is written here."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # read at request time: never online
    before = snapshot(box)
    assert main(["publish", "universal-v1", "--repo", "me/x"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(r"publishing me/x to the Hugging Face Hub failed \(OfflineModeIsEnabled: "
                                         r".*check the network, HF_HUB_OFFLINE", lines[0]), lines
    assert_untouched(before, box)


def test_cli_teacher_not_installed(box, capsys, monkeypatch):
    """A peer teacher whose package is missing is refused before the labelling run is recorded."""
    monkeypatch.setattr("unihub.zoo.peers.peer_available", lambda name: False)
    before = snapshot(box)
    assert main(["label", "x", "--n", "4", "--teachers", "chgnet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(r"teacher 'chgnet' is not installed here \(pip install", lines[0]), lines
    assert_untouched(before, box)


# -- what is not an error: the features the same issue asked for ----------------------------------------------------

def test_head_index_double_and_one_structure(model):
    """``head=1``, ``dtype="double"`` and ``predict(atoms)`` work, and say what they did."""
    from unihub.zoo import load_model

    m = load_model("universal-v1", head=1, dtype="double")
    assert m.config.default_fidelity == m.config.fidelities[1] and m.reference_energies.dtype == torch.float64
    cu = bulk("Cu", "fcc", 3.6)
    (one,) = model.predict(cu)
    assert one["energy"] == pytest.approx(model.predict([cu])[0]["energy"])
    assert one["forces"].shape == (1, 3)
    assert model.predict([]) == []


def test_student_predict_takes_one_structure(tmp_path):
    """An MTP student answers ``predict(atoms)`` as a universal model does, not atom by atom."""
    from unihub.finetune.mtp import MTPModel
    from unihub.zoo import load_model

    MTPModel.from_level(8, ["Si"], seed=1).save(tmp_path / "si.mtp")
    student = load_model(tmp_path / "si.mtp")
    si = bulk("Si", "diamond", 5.43)
    (one,) = student.predict(si)
    assert one["energy"] == student.predict([si])[0]["energy"] and one["forces"].shape == (2, 3)


def test_report_fails_when_no_suite_can_run(box, capsys, monkeypatch):
    """A report in which every suite failed is written (its reasons are in it) and exits non-zero."""
    empty = box / "no_data"
    empty.mkdir()
    monkeypatch.setenv("UNIHUB_DATA", str(empty))
    assert main(["report", "universal-v1", "--suites", "diatomics", "--quick", "-o", "rep", "--no-progress"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no suite could run (diatomics)" in lines[0], lines
    assert "diatomics" in json.loads((box / "rep" / "report.json").read_text())["suite_errors"]
    assert not [p for p in (box / "rep").rglob(".*") if p.is_file()]  # no half-written temporaries


def test_snapshot_sees_every_kind_of_damage(tmp_path):
    """The helper the corpus leans on: it must notice a new file, a rewrite with the same size, and a removal."""
    (tmp_path / "a").write_text("abc")
    (tmp_path / "b").write_text("xyz")
    before = snapshot(tmp_path)
    (tmp_path / "a").write_text("abd")
    os.utime(tmp_path / "a", ns=(before["a"][0], before["a"][0]))  # same mtime: only the sha256 tells
    with pytest.raises(AssertionError, match=r"changed \['a'\]"):
        assert_untouched(before, tmp_path)
    before = snapshot(tmp_path)
    (tmp_path / ".a.tmp123").write_text("half")
    (tmp_path / "b").unlink()
    with pytest.raises(AssertionError, match=r"created \['\.a\.tmp123'\], removed \['b'\]"):
        assert_untouched(before, tmp_path)
