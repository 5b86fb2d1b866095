"""What compiling costs and what it gives back: the first training step (which compiles) and the median of the steps
after it, for the library's `train_step` run eagerly, with only the network compiled, and with the whole step
compiled by `compile_state` (the network, and the update after backward: clipping, Adam and the average), as the
trainer compiles it.

    python benchmarks/compile_time.py                                  # digits8x8 on the CPU
    python benchmarks/compile_time.py --device cuda --preset ddpm_cifar10 --batch 128

Each configuration runs in a process of its own with an empty compile cache (its own TORCHINDUCTOR_CACHE_DIR), so
every compile starts cold, as a user's first run does. Prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from ddpm_lit import UNet, NoiseSchedule
from ddpm_lit.training import COMPILE_MODES, TrainConfig, compile_state, train_state, train_step
from ddpm_lit.unet import PRESETS
from bench_unet import sync                                     # this folder is on the path of a script run from it

WHAT = {'eager': 'eager', 'network': 'network compiled', 'whole': 'whole step compiled (compile_state)'}


def measure(what, device, preset, batch, steps, mode):
    "(seconds of the first step, median seconds of the `steps` steps after it) for one configuration, in this process."
    device = torch.device(device)
    torch.manual_seed(0)
    net = UNet.from_preset(preset).to(device)
    c = net.config
    s = train_state(net, TrainConfig(preset=preset, lr=2e-4, warmup=100, ema_decay=0.9999, ema_warmup='yes'))
    if what == 'network': s.model = torch.compile(net, mode=mode)
    elif what == 'whole': compile_state(s, mode)
    x = torch.rand(batch, c['in_channels'], c['image_size'], c['image_size'], device=device) * 2 - 1
    times = []
    for _ in range(steps + 1):
        sync(device); t0 = time.perf_counter()
        train_step(s, x)
        sync(device); times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--preset', default='digits8x8', choices=sorted(PRESETS))
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--steps', type=int, default=5, help='steps timed after the first')
    p.add_argument('--modes', nargs='+', default=list(WHAT), choices=list(WHAT))
    p.add_argument('--compile-mode', default='default', choices=COMPILE_MODES)
    p.add_argument('--child', choices=list(WHAT), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.batch < 1 or a.steps < 1: p.error('--batch and --steps must be at least 1')
    if a.child:
        first, rest = measure(a.child, a.device, a.preset, a.batch, a.steps, a.compile_mode)
        print(json.dumps({'first': first, 'rest': rest})); return
    print(f'# Compile time and step time, {a.preset}, batch {a.batch}, on {a.device}, torch {torch.__version__}, '
          f'compile mode {a.compile_mode}\n')
    print('| step | first step (s) | later steps, median (s) |')
    print('|---|---|---|')
    for what in a.modes:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, 'TORCHINDUCTOR_CACHE_DIR': cache}
            r = subprocess.run([sys.executable, __file__, '--child', what, '--device', a.device, '--preset', a.preset,
                                '--batch', str(a.batch), '--steps', str(a.steps), '--compile-mode', a.compile_mode],
                               capture_output=True, text=True, env=env)
        if r.returncode != 0:
            print(f'compile_time.py: error: the {what} run failed: {(r.stderr.strip().splitlines() or ["?"])[-1]}',
                  file=sys.stderr)
            sys.exit(1)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"| {WHAT[what]} | {out['first']:.1f} | {out['rest']:.3f} |")


if __name__ == '__main__':
    main()
