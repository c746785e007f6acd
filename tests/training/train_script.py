"""Run a tiny training on EMT frames; used by the kill-and-resume test as a subprocess."""

import sys

from emt_frames import emt_frames

from unihub.foundation.training import TrainConfig, train
from unihub.foundation.training.data import FrameSource

if __name__ == "__main__":
    out, epochs = sys.argv[1], int(sys.argv[2])
    cfg = TrainConfig.from_dict({
        "model": {"features": 16, "vector_features": 4, "layers": 2, "cutoff": 4.0},
        "data": {"batch_size": 4},
        "optim": {"warmup_steps": 5, "lr": 5e-3},
        "trainer": {"max_epochs": epochs, "progress": False, "log_every_n_steps": 1},
        "output": out,
        "seed": 1,
    })
    train(cfg, source=FrameSource(emt_frames()))
