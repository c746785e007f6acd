"""Datasets with different energy zeros under one functional are aligned onto one head scale."""

import copy

import numpy as np
from emt_frames import emt_frames

from unihub.foundation.training.data import FrameSource, GraphDataset
from unihub.foundation.training.references import fit_references


def two_datasets():
    a = emt_frames(18, seed=0)
    b = [copy.deepcopy(f) for f in a]  # same structures, so only the energy zero differs
    offset = {29: 1.7, 13: -0.4, 28: 0.9}  # dataset B's per-element energy zero (eV/atom)
    for f in a:
        f.dataset = "A"
    for f in b:
        f.dataset = "B"
        f.energy += sum(offset[int(z)] for z in f.numbers)
    return a + b, offset


def test_alignment_removes_per_element_offsets():
    frames, offset = two_datasets()
    src = FrameSource(frames, splits=["train"] * len(frames))
    ref = fit_references(src, src.indices("train"), np.array([0]), 1, anchors={0: src.datasets.index("A")})
    key_b = src.datasets.index("B") * len(src.fidelities)
    for z, v in offset.items():
        assert abs(ref.shift[key_b, z] - v) < 1e-6  # B is moved onto A, the anchor
    assert not ref.shift[src.datasets.index("A") * len(src.fidelities)].any()
    # the aligned labels of B equal what A's scale would give: the offsets are gone
    ds = GraphDataset(src, np.arange(len(frames)), 4.0, np.array([0]), ref.shift)
    raw = [f.energy - sum(offset[int(z)] for z in f.numbers) if f.dataset == "B" else f.energy for f in frames]
    np.testing.assert_allclose([float(ds[i].energy) for i in range(len(frames))], raw, atol=1e-6)


def test_without_alignment_nothing_is_shifted():
    frames, _ = two_datasets()
    src = FrameSource(frames, splits=["train"] * len(frames))
    ref = fit_references(src, src.indices("train"), np.array([0]), 1, align=False)
    assert not ref.shift.any() and ref.head[0, 29] != 0


def test_unaligned_dataset_is_never_shifted_and_sets_no_reference():
    frames, offset = two_datasets()
    src = FrameSource(frames, splits=["train"] * len(frames))
    a, b = src.datasets.index("A"), src.datasets.index("B")
    ref = fit_references(src, src.indices("train"), np.array([0]), 1, unaligned={b})
    n_src = len(src.fidelities)
    assert not ref.shift[b * n_src].any() and not ref.shift[a * n_src].any()
    # the head's zero is A's alone: B's +1.7 eV Cu offset does not leak into the average
    alone = fit_references(src, np.array([i for i, f in enumerate(frames) if f.dataset == "A"]),
                           np.array([0]), 1)
    np.testing.assert_allclose(ref.head[0, [13, 28, 29]], alone.head[0, [13, 28, 29]], atol=1e-6)
    # with alignment, the same B would have pulled the reference halfway
    pooled = fit_references(src, src.indices("train"), np.array([0]), 1)
    assert abs(pooled.head[0, 29] - alone.head[0, 29] - offset[29] / 2) < 1e-6


def test_replay_alignment_is_the_one_pretraining_used(tmp_path):
    """Fine-tuning's replay refits the pretraining label shifts; they must equal the run's own table."""
    from ase.data import chemical_symbols

    from unihub.finetune.replay import label_alignment
    from unihub.foundation.training import TrainConfig, train
    from unihub.zoo.models import UniversalModel

    frames, _ = two_datasets()
    c = copy.deepcopy(frames[0])
    c.dataset = "C"  # a third set, taken as already on the head's zero
    frames.append(c)
    src = FrameSource(frames, splits=["train"] * len(frames))
    cfg = TrainConfig.from_dict({
        "model": {"features": 8, "vector_features": 2, "layers": 1, "cutoff": 4.0, "fidelities": ["pbe"]},
        "data": {"batch_size": 4, "energy_anchors": {"pbe": "A"}, "unaligned": ["C"]},
        "trainer": {"max_steps": 1, "progress": False}, "output": str(tmp_path / "r"), "seed": 0})
    model = UniversalModel.load_dir(train(cfg, source=src))
    shift, datasets, fids = label_alignment(model, src)
    stored = model.extra_config["energy_alignment"]
    assert sorted(stored) == ["B/pbe"]  # A is the anchor, C is never shifted
    k = datasets.index("B") * len(fids) + fids.index("pbe")
    for el, v in stored["B/pbe"].items():
        assert abs(shift[k, chemical_symbols.index(el)] - v) < 1e-6
    assert not shift[datasets.index("C") * len(fids)].any()
