"""The training module and datamodule of fine-tuning: thin subclasses of foundation's."""

from __future__ import annotations

from torch.utils.data import DataLoader

from unihub.finetune.ewc import EWCPenalty
from unihub.finetune.freeze import freeze, param_groups
from unihub.finetune.replay import ReplaySampler
from unihub.foundation.graph import collate
from unihub.foundation.training.data import GraphDataset, PotentialDataModule
from unihub.foundation.training.module import PotentialModule


class FinetuneModule(PotentialModule):
    """``PotentialModule`` starting from given weights, with frozen stages, per-stage learning-rate
    factors and an optional EWC penalty added to the training loss."""

    def setup_finetune(self, state: dict, frozen=None, lr_factors: dict | None = None) -> set[str]:
        for net in (self.model, self.ema):
            net.load_state_dict(state)
        self.lr_factors = dict(lr_factors or {})
        self.ewc = None
        return freeze(self.model, frozen)

    def set_ewc(self, penalty: EWCPenalty | None) -> None:
        self.ewc = penalty

    def param_groups(self, lr: float) -> list[dict]:
        return param_groups(self.model, lr, getattr(self, "lr_factors", None))

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if getattr(self, "ewc", None) is not None:
            penalty = self.ewc(self.model)
            self.log("train/ewc", penalty, batch_size=int(batch.num_graphs))
            loss = loss + penalty
        return loss


class FinetuneDataModule(PotentialDataModule):
    """Training batches draw all fine-tune frames and ``per_epoch`` fresh replay frames each epoch.

    The source's train split must list the ``n_ft`` fine-tune frames first, then the ``n_pool`` replay frames.
    """

    def __init__(self, *args, n_ft: int, n_pool: int = 0, per_epoch: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.n_ft, self.n_pool, self.per_epoch = n_ft, n_pool, per_epoch

    def train_dataloader(self) -> DataLoader:
        if not self.n_pool:
            return super().train_dataloader()
        ds = GraphDataset(self.source, self.source.indices("train"), self.cutoff, self.fidelity_map)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        sampler = ReplaySampler(self.n_ft, self.n_pool, self.per_epoch, self.seed, rank, world)
        return DataLoader(ds, batch_size=self.batch_size, sampler=sampler, collate_fn=collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
