"""What one generator per sample costs against one generator per batch, in the samplers of ddpm_lit.sampling.

    python benchmarks/per_sample_noise.py                       # the 8x8 digits network, CPU, DDPM 100 steps, 256 samples
    python benchmarks/per_sample_noise.py --device cuda --preset ddpm_cifar10 --n 256 --steps 100

The two ways are timed alternately in one process, `--repeats` times each, and the medians and their ratio printed
as a Markdown table. Both draw the same number of random numbers; per-sample generators make one draw per sample and
step instead of one per step (`sample_generators`).
"""
import argparse
import statistics
import time

import torch

from ddpm_lit.forward_process import NoiseSchedule
from ddpm_lit.sampling import ddpm_sample, sample_generators
from ddpm_lit.unet import UNet, PRESETS


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--preset', default='digits8x8', choices=list(PRESETS))
    p.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    p.add_argument('--n', type=int, default=256, help='samples in the batch')
    p.add_argument('--steps', type=int, default=100, help='DDPM steps (respaced)')
    p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    torch.manual_seed(0)
    net = UNet.from_preset(a.preset).to(device).eval()
    c = net.config
    shape, schedule = (a.n, c['in_channels'], c['image_size'], c['image_size']), NoiseSchedule.linear().to(device)
    ways = {'one generator per batch': lambda: torch.Generator(device).manual_seed(0),
            'one generator per sample': lambda: sample_generators(0, range(a.n), device)}
    times = {name: [] for name in ways}
    for _ in range(a.repeats):
        for name, make in ways.items():
            sync(device); t0 = time.perf_counter()
            ddpm_sample(net, schedule, shape, generator=make(), device=device, steps=a.steps)
            sync(device); times[name].append(time.perf_counter() - t0)
    base = statistics.median(times['one generator per batch'])
    print(f'| noise | {a.preset}, {a.n} samples, DDPM {a.steps} steps, {a.device} | median s (of {a.repeats}) | ratio |')
    print('|---|---|---|---|')
    for name, ts in times.items():
        print(f'| {name} | | {statistics.median(ts):.3f} | {statistics.median(ts) / base:.2f} |')


if __name__ == '__main__':
    main()
