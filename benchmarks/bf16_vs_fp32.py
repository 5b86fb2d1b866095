"""Does bfloat16 training learn the same model as float32? Short runs of the trainer in both precisions, from
several seeds, each scored by the loss of its EMA weights on one fixed evaluation set (every image of the data,
with fixed steps t and noise, evaluated in float32). bf16 matches fp32 "within noise" when the gap between the
two precisions at the same seed is of the size of the spread between seeds.

    python benchmarks/bf16_vs_fp32.py                         # digits8x8 on the CPU, 3 seeds x 400 steps
    python benchmarks/bf16_vs_fp32.py --device cuda --data digits --preset digits --steps 2000

Prints a Markdown table. On the CPU, bf16 autocast needs a processor with bf16 instructions to be quick.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ddpm_lit import UNet, ddpm_loss, load_images, prepare, to_model_range
from ddpm_lit.training import TrainConfig, train
from ddpm_lit.checkpoint import load_model


@torch.no_grad()
def eval_loss(net, schedule, images, repeats, device, batch=512):
    "Mean L_simple of `net` over `repeats` fixed draws of (t, noise) for every image, in float32."
    g = torch.Generator().manual_seed(1234)
    total, count = 0.0, 0
    for _ in range(repeats):
        for i in range(0, len(images), batch):
            x0 = images[i:i + batch]
            t = torch.randint(0, schedule.T, (len(x0),), generator=g)
            noise = torch.randn(x0.shape, generator=g)
            loss = ddpm_loss(net, schedule, x0.to(device), t.to(device), noise.to(device), reduction='none')
            total += loss.sum().item(); count += len(x0)
    return total / count


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--device', default='cpu')
    p.add_argument('--data', default='digits8x8')
    p.add_argument('--preset', default='digits8x8')
    p.add_argument('--steps', type=int, default=400)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--repeats', type=int, default=4, help='fixed (t, noise) draws per image in the evaluation')
    a = p.parse_args()
    device = torch.device(a.device)
    print(f'# bf16 against fp32 training: {a.preset} on {a.data}, {a.steps} steps at batch {a.batch_size}, '
          f'torch {torch.__version__}, {device}, {time.strftime("%Y-%m-%d")}\n')
    print('| seed | fp32 eval loss | bf16 eval loss | bf16 - fp32 | fp32 s | bf16 s |')
    print('|---|---|---|---|---|---|')
    c = UNet.from_preset(a.preset).config
    images = to_model_range(prepare(load_images(a.data), c['image_size'], c['in_channels']))   # the evaluation set
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            row = {}
            for precision in ('fp32', 'bf16'):
                cfg = TrainConfig(data=a.data, out=str(Path(tmp) / f'{precision}-{seed}'), preset=a.preset, steps=a.steps,
                                  batch_size=a.batch_size, lr=a.lr, warmup=min(100, a.steps // 4), ema_decay=0.995, ema_warmup='no',
                                  ckpt_every=a.steps, sample_every=0, log_every=50, seed=seed, device=a.device,
                                  precision=precision, progress=False)
                s = train(cfg)
                net, schedule, _ = load_model(Path(cfg.out) / 'checkpoint.pt', device)
                row[precision] = eval_loss(net, schedule, images, a.repeats, device)
                row[precision + '_s'] = s['seconds']
            rows.append(row)
            print(f"| {seed} | {row['fp32']:.5f} | {row['bf16']:.5f} | {row['bf16'] - row['fp32']:+.5f} | "
                  f"{row['fp32_s']:.0f} | {row['bf16_s']:.0f} |", flush=True)
    fp32 = [r['fp32'] for r in rows]; gaps = [r['bf16'] - r['fp32'] for r in rows]
    spread = statistics.stdev(fp32) if len(fp32) > 1 else float('nan')
    print(f'\nspread of fp32 over seeds (standard deviation): {spread:.5f}; '
          f'mean bf16 - fp32 gap: {statistics.mean(gaps):+.5f}; largest |gap|: {max(map(abs, gaps)):.5f}')


if __name__ == '__main__':
    main()
