"""The model this book trains once on the CPU and samples from in several chapters.

The training chapter explains the run; the sampling and evaluation chapters call `book_model()`, which
trains it first if no chapter has done so yet (training is deterministic on the CPU, so every chapter
sees the same weights either way). The same run from the shell:

    ddpm-lit train --data digits8x8 --config digits8x8 --steps 1500 --batch-size 128 --lr 1e-3 \
        --warmup 100 --ema-decay 0.995 --ckpt-every 500 --sample-every 0 --log-every 50 --out _runs/digits8x8
"""
from pathlib import Path

from ddpm_lit import TrainConfig, train, load_checkpoint, make_schedule, model_from_checkpoint

BOOK_RUN = TrainConfig(data='digits8x8', out=str(Path(__file__).resolve().parent / '_runs' / 'digits8x8'),
                       preset='digits8x8', steps=1500, batch_size=128, lr=1e-3, warmup=100, ema_decay=0.995,
                       ckpt_every=500, sample_every=0, log_every=50, device='cpu', progress=False)

def book_model():
    "The EMA network of the book's run (trained here if it is not on disk yet), its schedule, and the checkpoint."
    train(BOOK_RUN)
    ckpt = load_checkpoint(Path(BOOK_RUN.out) / 'checkpoint.pt')
    return model_from_checkpoint(ckpt), make_schedule(BOOK_RUN), ckpt
