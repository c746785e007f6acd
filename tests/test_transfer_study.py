"""bench/transfer_study.py's rules: training frames spread over groups, nested by size; the DFT lattice references;
formation energies and their ordering."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from unihub.foundation.data import Frame


@pytest.fixture(scope="module")
def study():
    path = Path(__file__).parents[1] / "bench" / "transfer_study.py"
    sys.path.insert(0, str(path.parent))  # the script imports its bench neighbours, as when run from bench/
    try:
        spec = importlib.util.spec_from_file_location("transfer_study", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(path.parent))


def frame(group: str, k: int, formula: str = "X", energy: float = 0.0, force: float = 0.0, stress: float = 0.0):
    return Frame([8], [[0.0, 0.0, 0.0]], np.eye(3) * (3 + k), True, energy=energy, forces=np.full((1, 3), force),
                 stress=np.full((3, 3), stress), group=group, info={"formula": formula, "k": k})


def test_spread_order_covers_every_group_before_repeating_one(study):
    sizes = {"a": 30, "b": 5, "c": 12, "d": 1}
    frames = [frame(g, k) for g, n in sizes.items() for k in range(n)]
    order = study.spread_order(frames, seed=0)
    assert sorted(id(f) for f in order) == sorted(id(f) for f in frames)  # a permutation
    assert {f.group for f in order[:4]} == set(sizes)
    assert {f.group for f in order[5:10]} == {"a", "b", "c"}  # d is spent, b lasts five rounds
    assert [f.info["k"] for f in order] == [f.info["k"] for f in study.spread_order(frames, seed=0)]
    assert [id(f) for f in order] != [id(f) for f in study.spread_order(frames, seed=1)]


def test_lattice_refs_take_the_lowest_relaxed_frame_per_formula(study):
    spec = {"formulas": ["SrO", "HfO2"], "fmax_dft": 0.05, "smax_dft_GPa": 0.5}
    frames = [frame("m1", 0, "SrO", energy=-5.0),
              frame("m2", 1, "SrO", energy=-9.0, force=0.2),  # lower, but its forces are not relaxed
              frame("m3", 2, "SrO", energy=-6.0),
              frame("m4", 3, "SrO", energy=-7.0, stress=0.01),  # 1.6 GPa: a strained cell
              frame("m5", 4, "O2", energy=-20.0)]
    refs = study.lattice_refs(frames, spec)
    assert list(refs) == ["SrO"] and refs["SrO"].group == "m3"


class TableCalculator(Calculator):
    """Energy from a per-formula table plus a constant per atom of each element; zero forces and stress."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, table: dict, shift: dict):
        super().__init__()
        self.table, self.shift = table, shift

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e = self.table[self.atoms.get_chemical_formula(mode="reduce")]
        e += sum(self.shift[s] for s in self.atoms.get_chemical_symbols())
        self.results = {"energy": e, "forces": np.zeros((len(self.atoms), 3)), "stress": np.zeros(6)}


def table_model(table: dict, shift: dict):
    """The table behind the evaluation's model face (a served model answering ``calculator``)."""
    from unihub.eval.models import EvalModel

    class Served:
        def calculator(self, head=None):
            return TableCalculator(table, shift)

    return EvalModel("table", "student", "0", model=Served())


def cell(symbols: str, energy: float, group: str) -> Frame:
    a = bulk("Cu", "fcc", 3.6, cubic=True)[: len(symbols.split())]
    a.set_chemical_symbols(symbols.split())
    return Frame(a.numbers, a.positions, a.cell[:], True, energy=energy, forces=np.zeros((len(a), 3)),
                 stress=np.zeros((3, 3)), group=group, info={"formula": a.get_chemical_formula(mode="reduce")})


def test_formation_energies_against_the_elements_and_their_ordering(study):
    refs = {"Sr": cell("Sr", -1.0, "m1"), "O2": cell("O O", -10.0, "m2"), "SrO": cell("Sr O", -12.0, "m3"),
            "SrO2": cell("Sr O O", -16.0, "m4")}
    dft = {k: f.energy for k, f in refs.items()}
    # per-element constants cancel in formation energies: the same values and ordering as DFT's
    shifted = study.formation(table_model(dft, {"Sr": 0.3, "O": -0.2}), refs)
    assert shifted["dft_meV_atom"] == pytest.approx({"SrO": -3000.0, "SrO2": -5000.0 / 3})
    assert shifted["model_meV_atom"] == pytest.approx(shifted["dft_meV_atom"])
    assert shifted["mae_meV_atom"] == pytest.approx(0, abs=1e-9) and shifted["kendall_tau"] == pytest.approx(1)
    swapped = study.formation(table_model({**dft, "SrO": -9.0, "SrO2": -19.0}, {"Sr": 0.0, "O": 0.0}), refs)
    assert swapped["model_meV_atom"] == pytest.approx({"SrO": -1500.0, "SrO2": -2666.6667})
    assert swapped["kendall_tau"] == pytest.approx(-1)


def test_cached_runs_are_keyed_on_the_base_weights_not_its_name(study, monkeypatch):
    """A base retrained under the same name never reuses its predecessor's fine-tuning runs; from-scratch runs
    depend on its architecture only."""
    import torch

    from unihub.foundation.model.config import ModelConfig
    from unihub.zoo.models import UniversalModel

    def base(seed: int, features: int = 8) -> UniversalModel:
        torch.manual_seed(seed)
        return UniversalModel(ModelConfig(features=features, vector_features=4, layers=1, cutoff=4.0, n_basis=4))

    paths = []
    monkeypatch.setattr(study, "cached", lambda path, compute: paths.append(path) or {})
    cfg = {"system": "x", "base": "same-name", "head": "pbe", "seed": 0, "steps": 1, "batch_size": 1,
           "patience": 1, "lr": 1e-3, "mode_options": {}}
    data = {"train": [frame("a", k) for k in range(3)], "val": []}
    for model in (base(0), base(1), base(0), base(0, features=4)):
        for mode in ("naive", "scratch"):
            study.training_run(cfg, model, data, "2", mode)
    naive, scratch = paths[0::2], paths[1::2]
    assert naive[0] != naive[1] and naive[0] == naive[2]
    assert scratch[0] == scratch[1] == scratch[2] != scratch[3]


def test_each_mode_keeps_the_learning_rate_with_the_lowest_validation_loss(study, monkeypatch):
    """Every learning rate a mode tries is its own cached run; the one with the lowest validation loss is kept."""
    val_loss = {5e-4: 0.3, 2e-3: 0.1, 1e-3: 0.2, 3e-3: 0.4}
    runs = []

    def fake_run(cfg, base, data, n, mode, lr):
        runs.append((mode, lr))
        return {"test": {"force_mae_meV_A": lr}, "best": {"val_loss": val_loss[lr]}, "lr": lr}

    monkeypatch.setattr(study, "_training_run", fake_run)
    cfg = {"lr": [5e-4, 2e-3], "scratch_lr": [1e-3, 3e-3]}
    data = {"val": [frame("v", 0)]}
    tuned = study.training_run(cfg, None, data, "50", "naive")
    scratch = study.training_run(cfg, None, data, "50", "scratch")
    assert runs == [("naive", 5e-4), ("naive", 2e-3), ("scratch", 1e-3), ("scratch", 3e-3)]
    assert tuned["lr"] == 2e-3 and tuned["val_loss_per_lr"] == {"0.0005": 0.3, "0.002": 0.1}
    assert scratch["lr"] == 1e-3
    assert study.training_run({"lr": 5e-4}, None, {"val": []}, "50", "naive")["lr"] == 5e-4  # one rate, no choice
    assert study.learning_rates({}, "scratch") == [3e-3]  # the from-scratch recipe's rate by default
    with pytest.raises(ValueError, match="needs validation frames"):
        study.training_run(cfg, None, {"val": []}, "50", "naive")
    with pytest.raises(ValueError, match="positive numbers"):
        study.learning_rates({"lr": [1e-3, -1]}, "naive")
