"""Replay: element filters as MACE defines them, random/FPS selection, the per-epoch ratio, pseudo-labels."""

import numpy as np
import pytest
import torch

from unihub.finetune.replay import (
    ReplaySampler,
    farthest_point_sampling,
    filter_indices,
    keep_by_elements,
    pseudolabel,
    select_replay,
)

CU, NI, AL = 29, 28, 13


@pytest.mark.parametrize("mode, expected", [
    ("none", {"cu", "cuni", "alni", "cunial"}),
    ("combinations", {"cu", "cuni"}),      # only Cu and/or Ni
    ("inclusive", {"cuni", "cunial"}),     # both Cu and Ni, maybe more
    ("exclusive", {"cuni"}),               # exactly Cu and Ni
])
def test_filters(pretrain, mode, expected):
    idx = filter_indices(pretrain, pretrain.indices("train"), [CU, NI], mode)
    assert {pretrain.frames[i].dataset for i in idx} == expected
    assert keep_by_elements(frozenset({CU}), frozenset({CU, NI}), "combinations")
    assert not keep_by_elements(frozenset({CU}), frozenset({CU, NI}), "inclusive")
    with pytest.raises(ValueError, match="replay_filter must be one of"):
        filter_indices(pretrain, pretrain.indices("train"), [CU], "subset")


@pytest.mark.parametrize("select", ["random", "fps"])
def test_selection_obeys_filter_and_count(pretrain, base, select):
    idx = select_replay(pretrain, 5, [CU, NI], select=select, filter="combinations", model=base, seed=1)
    assert len(idx) == len(set(idx.tolist())) == 5
    assert set(idx) <= set(pretrain.indices("train"))
    assert all(set(pretrain.frames[i].numbers) <= {CU, NI} for i in idx)
    with pytest.raises(ValueError, match="no pretraining frame passes"):
        select_replay(pretrain, 3, [AL], filter="exclusive")


def test_selection_by_fidelity(pretrain):
    idx = select_replay(pretrain, 50, [CU, NI], filter="none", fidelity="pbesol")
    assert len(idx) == 5 and {pretrain.frames[i].dataset for i in idx} == {"alni"}  # the one PBEsol dataset
    assert len(select_replay(pretrain, 50, [CU, NI], filter="none", fidelity="any")) == len(pretrain.indices("train"))
    with pytest.raises(ValueError, match="fidelities \\['pbe', 'pbesol'\\]"):
        select_replay(pretrain, 3, [CU], filter="none", fidelity="r2scan")
    with pytest.raises(ValueError, match="among those labelled in 'pbesol'"):
        select_replay(pretrain, 3, [CU], filter="combinations", fidelity="pbesol")  # no Cu-only PBEsol frame


def test_fps_takes_the_extremes():
    x = np.array([[0.0], [0.1], [0.2], [5.0], [10.0], [9.9]])
    for seed in range(5):
        a, b, c = farthest_point_sampling(x, 3, seed=seed)
        assert b == np.argmax(np.abs(x[:, 0] - x[a, 0]))
        assert c == np.argmax(np.minimum(np.abs(x[:, 0] - x[a, 0]), np.abs(x[:, 0] - x[b, 0])))
        assert {b, c} & {0, 4}  # an extreme is always among them in 1D


def test_sampler_ratio_and_fresh_draws():
    s = ReplaySampler(n_ft=10, n_pool=40, per_epoch=5, seed=0)
    epochs = []
    for e in range(3):
        s.set_epoch(e)
        order = list(s)
        assert len(order) == len(s) == 15
        assert sorted(k for k in order if k < 10) == list(range(10))  # every fine-tune frame, once
        replay = sorted(k for k in order if k >= 10)
        assert len(replay) == len(set(replay)) == 5 and all(10 <= k < 50 for k in replay)
        epochs.append(replay)
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]


def test_sampler_shards_by_rank_like_training():
    """Two DDP ranks see disjoint halves of one epoch's order (every frame once, padded to equal length)."""
    ranks = [ReplaySampler(n_ft=11, n_pool=40, per_epoch=6, seed=3, rank=r, world=2) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(2)
    a, b = (list(s) for s in ranks)
    assert len(a) == len(b) == len(ranks[0]) == 9  # 17 frames over 2 ranks, padded to 18
    assert sorted(k for k in a + b if k < 11)[:11] == list(range(11))
    single = ReplaySampler(n_ft=11, n_pool=40, per_epoch=6, seed=3)
    single.set_epoch(2)
    assert set(a) | set(b) == set(single)  # the same epoch, split between the ranks


def test_finetune_replay_mixes_ratio(base, ft_frames, pretrain, monkeypatch):
    from unihub.finetune import module

    seen = {}
    real = module.FinetuneDataModule.train_dataloader

    def spy(self):
        loader = real(self)
        seen["n"], seen["pool"] = len(loader.sampler), self.n_pool
        seen["fids"] = sorted({self.source.frames[i].fidelity for i in self.source.indices("train")})
        return loader

    monkeypatch.setattr(module.FinetuneDataModule, "train_dataloader", spy)
    from unihub.finetune import finetune

    tuned = finetune(base, ft_frames, replay=8, replay_ratio=0.5, replay_filter="none", pretraining=pretrain,
                     epochs=1, check_units=False)
    assert seen["pool"] == 8 and seen["n"] == len(ft_frames) + len(ft_frames) // 2
    assert "pbesol" in seen["fids"]  # replay frames keep their own fidelity head
    assert tuned.extra_config["finetune"]["method"]["replay"] == 8


def test_pseudolabels_come_from_the_model(base, pretrain):
    frames = [pretrain.frames[i] for i in (0, 13)]  # a pbe and a pbesol frame
    other = [f.__class__(f.numbers, f.positions, f.cell, f.pbc, energy=f.energy + 1.0, forces=f.forces + 0.5,
                         fidelity=f.fidelity, dataset=f.dataset) for f in frames]
    out = pseudolabel(base, other, keep_fidelity="pbe")
    assert out[0] is other[0]  # same functional as the fine-tune head: DFT labels kept
    assert out[1].info["pseudolabel"] and out[1].energy == pytest.approx(frames[1].energy, abs=1e-4)
    torch.testing.assert_close(torch.as_tensor(out[1].forces), torch.as_tensor(frames[1].forces), atol=1e-4, rtol=0)


def test_replay_labels_follow_pretraining_alignment(pretrain):
    from unihub.finetune.replay import align_labels

    frames = [pretrain.frames[0], pretrain.frames[13]]  # a Cu 'cu' pbe frame and an Al/Ni 'alni' pbesol frame
    shift = np.zeros((len(pretrain.datasets) * len(pretrain.fidelities), 119))
    key = pretrain.datasets.index("cu") * len(pretrain.fidelities) + pretrain.fidelities.index("pbe")
    shift[key, CU] = 0.25
    out = align_labels(frames, (shift, pretrain.datasets, pretrain.fidelities), {"pbesol": {NI: -0.1}})
    n_cu = int((frames[0].numbers == CU).sum())
    n_ni = int((frames[1].numbers == NI).sum())
    assert out[0].energy == pytest.approx(frames[0].energy - 0.25 * n_cu)
    assert out[1].energy == pytest.approx(frames[1].energy - 0.1 * n_ni)
    assert np.array_equal(out[0].forces, frames[0].forces)  # forces untouched


def test_replay_draws_from_what_pretraining_saw(pretrain, base):
    """A per-dataset cap in the base's training config bounds the replay and EWC candidates per dataset."""
    import copy

    from unihub.finetune.replay import pretrained_indices

    assert np.array_equal(pretrained_indices(base, pretrain), pretrain.indices("train"))  # no config: all
    capped = copy.copy(base)
    capped.extra_config = {"training": {"config": {"data": {"max_frames_per_dataset": 2}, "seed": 3}}}
    seen = pretrained_indices(capped, pretrain)
    per = {}
    for i in seen:
        per[pretrain.frames[i].dataset] = per.get(pretrain.frames[i].dataset, 0) + 1
    assert per == {"cu": 2, "cuni": 2, "alni": 2, "cunial": 2}  # 5 train frames each before the cap
    assert set(seen) <= set(pretrain.indices("train"))
    idx = select_replay(pretrain, 100, [CU, NI], filter="none", seed=0, candidates=seen)
    assert sorted(idx.tolist()) == sorted(seen.tolist())


def test_replay_above_the_pretraining_rate_warns(base, ft_frames, pretrain):
    import copy

    from unihub.finetune import finetune

    hot = copy.copy(base)
    hot.extra_config = {"training": {"config": {"optim": {"lr": 5e-4}}}}
    with pytest.warns(UserWarning, match="above the base's pretraining peak 0.0005"):
        finetune(hot, ft_frames, replay=4, replay_filter="none", pretraining=pretrain, epochs=1, lr=1e-3,
                 check_units=False)


def test_generated_data_not_made_here_is_left_out_with_a_warning(tmp_path, monkeypatch):
    """universal-v2 trained on teacher labels made by `unihub label`; on a machine without them, replay draws
    from the public datasets and says so (no URL serves generated data)."""
    import warnings

    from unihub.finetune.run import _made_here
    from unihub.foundation.data import load_card
    from unihub.foundation.training.config import TrainConfig
    from unihub.zoo import load_model

    cfg = TrainConfig.from_dict(load_model("universal-v2").extra_config["training"]["config"])
    generated = [d for d in cfg.data.datasets if load_card(d).role == "generated"]
    assert "teacher_compounds" in generated and len(generated) < len(cfg.data.datasets)
    public = [d for d in cfg.data.datasets if d not in generated]
    monkeypatch.setenv("UNIHUB_CACHE", str(tmp_path))  # a machine where nothing was generated
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        kept = _made_here(cfg)
    assert kept.data.datasets == public
    assert any(f"leaves out {', '.join(generated)}:" in str(w.message) for w in seen)


@pytest.mark.parametrize("fidelity, expected", [("head", {"pbe"}), ("pbesol", {"pbesol"})])
def test_finetune_replays_the_tuned_heads_frames(base, ft_frames, pretrain, monkeypatch, fidelity, expected):
    """replay_fidelity='head' keeps the pool to the frames of the head being tuned (here 'pbe', the data's)."""
    from unihub.finetune import finetune, module

    seen = {}
    real = module.FinetuneDataModule.train_dataloader

    def spy(self):
        seen["replayed"] = {self.source.frames[i].fidelity for i in range(self.n_ft, self.n_ft + self.n_pool)}
        return real(self)

    monkeypatch.setattr(module.FinetuneDataModule, "train_dataloader", spy)
    tuned = finetune(base, ft_frames, replay=30, replay_filter="none", replay_fidelity=fidelity, pretraining=pretrain,
                     epochs=1, check_units=False)
    assert seen["replayed"] == expected
    method = tuned.extra_config["finetune"]["method"]
    assert method["replay_fidelity"] == fidelity
    want = {"cu": 5, "cuni": 5, "cunial": 5} if fidelity == "head" else {"alni": 5}  # every train frame of each
    assert method["replay_datasets"] == want
