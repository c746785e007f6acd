"""The Lightning module: weighted Huber loss on energy/atom, forces and stress, with an EMA copy."""

from __future__ import annotations

import copy
import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from unihub.foundation.data.units import EV_A3_TO_GPA
from unihub.foundation.model.config import ModelConfig
from unihub.foundation.model.potential import UniversalPotential


class PotentialModule(pl.LightningModule):
    """Trains ``model``; ``ema`` (exponential moving average of its weights) is validated and exported."""

    def __init__(self, model: dict, loss: dict, optim: dict, dataset_names: list[str]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = UniversalPotential(ModelConfig.from_dict(model))
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        heads = self.model.config.fidelities
        w = [float(loss.get("fidelity_weights", {}).get(h, 1.0)) for h in heads]
        self.register_buffer("fidelity_weights", torch.tensor(w), persistent=False)
        self._sums: dict[str, torch.Tensor] = {}

    # -- loss --------------------------------------------------------------------
    def _errors(self, net, batch, create_graph: bool):
        want_stress = bool(batch.has_stress.any())
        out = net(batch, forces=True, stress=want_stress, create_graph=create_graph)
        n_atoms = (batch.ptr[1:] - batch.ptr[:-1]).to(out["energy"].dtype)
        dtype = out["energy"].dtype
        e_err = (out["energy"] - batch.energy.to(dtype)) / n_atoms
        f_err = out["forces"] - batch.forces.to(dtype)
        if want_stress:
            s_err = torch.nan_to_num(out["stress"]) - batch.stress.to(dtype)
        else:
            s_err = torch.zeros_like(batch.stress, dtype=dtype)
        return e_err, f_err, s_err

    def _loss(self, batch, e_err, f_err, s_err):
        cfg = self.hparams.loss
        delta = cfg.get("huber_delta", 0.01)
        d_e, d_f, d_s = ((delta.get("energy", 0.01), delta.get("forces", 0.01), delta.get("stress", 0.01))
                         if isinstance(delta, dict) else (delta, delta, delta))
        w_graph = self.fidelity_weights[batch.fidelity]
        w_atom = w_graph[batch.batch] * batch.has_forces[batch.batch]
        we = w_graph * batch.has_energy
        ws = w_graph * batch.has_stress
        le = (we * F.huber_loss(e_err, torch.zeros_like(e_err), reduction="none", delta=d_e)).sum()
        lf = (w_atom * F.huber_loss(f_err, torch.zeros_like(f_err), reduction="none", delta=d_f).mean(-1)).sum()
        ls = (ws * F.huber_loss(s_err, torch.zeros_like(s_err), reduction="none", delta=d_s).mean((1, 2))).sum()
        loss = (cfg.get("energy", 1.0) * le / we.sum().clamp(min=1e-9)
                + cfg.get("forces", 10.0) * lf / w_atom.sum().clamp(min=1e-9)
                + cfg.get("stress", 10.0) * ls / ws.sum().clamp(min=1e-9))
        return loss

    def training_step(self, batch, batch_idx):
        e_err, f_err, s_err = self._errors(self.model, batch, create_graph=True)
        loss = self._loss(batch, e_err, f_err, s_err)
        self.log("train/loss", loss, prog_bar=True, batch_size=int(batch.num_graphs))
        return loss

    def on_before_optimizer_step(self, optimizer) -> None:
        # one non-finite gradient (an overflow on an extreme frame) would make every weight NaN, EMA included:
        # drop that step's gradients instead; the optimiser skips parameters without one
        params = [p for p in self.model.parameters() if p.grad is not None]
        # one device sync per step, not one per parameter
        if params and not bool(torch.stack([torch.isfinite(p.grad).all() for p in params]).all()):
            for p in params:
                p.grad = None
            self.skipped_steps = getattr(self, "skipped_steps", 0) + 1
            self.log("train/skipped_steps", float(self.skipped_steps))

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        decay = self.hparams.optim.get("ema_decay", 0.99)
        # warm the average up so early steps are not dominated by the random initialisation
        d = min(decay, (1 + self.global_step) / (10 + self.global_step))
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                pe.lerp_(pm, 1 - d)
            for be, bm in zip(self.ema.buffers(), self.model.buffers()):
                be.copy_(bm)

    # -- validation ----------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._sums = {}

    def _accumulate(self, batch, e_err, f_err, s_err) -> None:
        n_ds = len(self.hparams.dataset_names)
        dev = e_err.device
        ds = batch.dataset

        def add(key, values, mask, index):
            s = self._sums.setdefault(key, torch.zeros(2, n_ds, dtype=torch.float64, device=dev))
            s[0].index_add_(0, index, (values.detach().double() * mask))
            s[1].index_add_(0, index, mask.double())

        add("energy", e_err.abs() * 1000, batch.has_energy.double(), ds)
        atom_ds = ds[batch.batch]
        add("forces", f_err.abs().mean(-1) * 1000, batch.has_forces[batch.batch].double(), atom_ds)
        add("stress", s_err.abs().mean((1, 2)) * EV_A3_TO_GPA, batch.has_stress.double(), ds)

    def validation_step(self, batch, batch_idx):
        with torch.enable_grad():
            e_err, f_err, s_err = self._errors(self.ema, batch, create_graph=False)
        loss = self._loss(batch, e_err.detach(), f_err.detach(), s_err.detach())
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=int(batch.num_graphs))
        self._accumulate(batch, e_err, f_err, s_err)

    def on_validation_epoch_end(self) -> None:
        names = self.hparams.dataset_names
        units = {"energy": "meV_atom", "forces": "meV_A", "stress": "GPa"}
        for key, s in self._sums.items():
            s = self.trainer.strategy.reduce(s, reduce_op="sum")
            total = s[0].sum() / s[1].sum().clamp(min=1)
            if s[1].sum() > 0:
                self.log(f"val/{key}_mae_{units[key]}", total.float(), prog_bar=key == "forces")
            for k, name in enumerate(names):
                if s[1, k] > 0:
                    self.log(f"val_{name}/{key}_mae_{units[key]}", (s[0, k] / s[1, k]).float())

    # -- optimisation ------------------------------------------------------------------
    def param_groups(self, lr: float) -> list[dict]:
        """Optimiser parameter groups; subclasses freeze or rescale parts of the model here."""
        return [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": lr}]

    def configure_optimizers(self):
        cfg = self.hparams.optim
        opt = torch.optim.AdamW(self.param_groups(cfg.get("lr", 2e-3)), lr=cfg.get("lr", 2e-3),
                                weight_decay=cfg.get("weight_decay", 0.0))
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warm = min(int(cfg.get("warmup_steps", 100)), max(total // 5, 1))
        floor = cfg.get("min_lr_factor", 0.02)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = min((step - warm) / max(total - warm, 1), 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
