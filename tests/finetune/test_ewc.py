"""EWC: the penalty vanishes at the anchor, grows quadratically away from it, and holds weights back."""

import torch

from unihub.finetune.ewc import EWCPenalty, fisher_diagonal


def test_penalty_zero_at_anchor_positive_away(base):
    model = type(base)(base.config)
    model.load_state_dict(base.state_dict())
    batches = [torch.randn(5) for _ in range(4)]
    fisher = fisher_diagonal(model, batches, lambda x: (model.readout[0].weight.sum() * x.sum()) ** 2
                             + model.element_embedding.weight[29].pow(2).sum())
    assert all((f >= 0).all() for f in fisher.values())
    assert abs(sum(f.sum() for f in fisher.values()) / sum(f.numel() for f in fisher.values()) - 1) < 1e-5
    pen = EWCPenalty(model, fisher, weight=2.0)
    assert pen(model).item() == 0.0
    with torch.no_grad():
        model.readout[0].weight.add_(0.01)
    p1 = pen(model).item()
    with torch.no_grad():
        model.readout[0].weight.add_(0.01)
    assert p1 > 0 and abs(pen(model).item() / p1 - 4) < 1e-3  # quadratic in the displacement


def test_ewc_holds_weights_near_the_base(base, ft_frames, pretrain):
    from unihub.finetune import finetune

    def drift(m):
        return sum((a - b).pow(2).sum() for a, b in zip(m.parameters(), base.parameters())).item()

    kw = dict(epochs=2, lr=5e-3, e0="keep", pretraining=pretrain, check_units=False, ewc_frames=6)
    free = finetune(base, ft_frames, **kw)
    held = finetune(base, ft_frames, ewc=1.0, **kw)
    assert 0 < drift(held) < 0.5 * drift(free)
