"""The models this book trains once on the CPU and samples from in several chapters.

The training chapter explains the run; the sampling and evaluation chapters call `book_model()`, which
trains it first if no chapter has done so yet (training is deterministic on the CPU, so every chapter
sees the same weights either way). Its recipe is pinned here, setting by setting, so that changes to the
trainer's defaults never change the book's model: a fixed average decay of 0.995 (no warm-up ramp) and
100 warm-up steps of the learning rate. The same run from the shell:

    ddpm-lit train --data digits8x8 --config digits8x8 --steps 1500 --batch-size 128 --lr 1e-3 \
        --warmup 100 --ema-decay 0.995 --ema-warmup no --ckpt-every 500 --sample-every 0 --log-every 50 \
        --device cpu --out _runs/digits8x8

The book's conditional model (`book_cond_model()`, for the chapter on guidance and the command-line chapter) is
the same run with labels: `--conditional --cond-drop 0.1 --out _runs/digits8x8_cond`.
"""
import dataclasses
from pathlib import Path

from ddpm_lit.training import TrainConfig, train
from ddpm_lit.checkpoint import load_model

BOOK_RUN = TrainConfig(data='digits8x8', out=str(Path(__file__).resolve().parent / '_runs' / 'digits8x8'),
                       preset='digits8x8', steps=1500, batch_size=128, lr=1e-3, warmup=100, grad_clip=1.0,
                       ema_decay=0.995, ema_warmup='no', flip='auto', T=1000, schedule='linear', conditional=False,
                       ckpt_every=500, sample_every=0, log_every=50, seed=0, device='cpu', precision='fp32',
                       compile='no', progress=False)

def book_model():
    "The EMA network of the book's run (trained here if it is not on disk yet), its schedule, and the checkpoint."
    train(BOOK_RUN)
    return load_model(Path(BOOK_RUN.out) / 'checkpoint.pt')

BOOK_COND_RUN = dataclasses.replace(BOOK_RUN, out=str(Path(BOOK_RUN.out).with_name('digits8x8_cond')), conditional=True,
                                    cond_drop=0.1)              # 0.1 is also the default; pinned, as the rest of the recipe is

def book_cond_model():
    "The EMA network of the book's conditional run (trained here if it is not on disk yet), its schedule, and the checkpoint."
    train(BOOK_COND_RUN)
    return load_model(Path(BOOK_COND_RUN.out) / 'checkpoint.pt')
