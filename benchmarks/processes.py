"""One process against two (or N) under torchrun, for training and for sampling, on the CPU (Gloo) or on GPUs (NCCL).

    python benchmarks/processes.py                                   # CPU: 1 and 2 processes, digits8x8, 1 and 2 threads
    python benchmarks/processes.py --device cuda --procs 1 8 --preset ddpm_cifar10 --batch 128 --samples 512

Each configuration is a separate command (`python -m ddpm_lit ...`, or `torchrun --standalone --nproc-per-node=N -m
ddpm_lit ...`), run alternately `--repeats` times, and the medians printed as a Markdown table: training throughput in
images per second from the trainer's own summary (global, and per process), and sampling wall time for the same samples
(per-sample noise makes them the same tensors, whatever the count). On a CPU with C cores, N processes get C / N
threads each (OMP_NUM_THREADS), so every configuration uses the same cores.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def command(procs:int, args:list) -> list:
    head = [sys.executable, '-m', 'ddpm_lit'] if procs == 1 else [str(BIN / 'torchrun'), '--standalone', f'--nproc-per-node={procs}', '-m', 'ddpm_lit']
    return head + [str(a) for a in args]


def timed(procs:int, args:list, env:dict, cwd:Path):
    t0 = time.perf_counter()
    r = subprocess.run(command(procs, args), capture_output=True, text=True, env=env, cwd=cwd)
    if r.returncode != 0: sys.exit(f'{" ".join(command(procs, args))} failed:\n{r.stderr[-3000:]}')
    return time.perf_counter() - t0, r.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    p.add_argument('--procs', type=int, nargs='+', default=[1, 2])
    p.add_argument('--preset', default='digits8x8')
    p.add_argument('--data', default='digits8x8')
    p.add_argument('--batch', type=int, default=128, help='global batch size of training')
    p.add_argument('--steps', type=int, default=60, help='training steps per run (the first includes start-up)')
    p.add_argument('--samples', type=int, default=256)
    p.add_argument('--sample-steps', type=int, default=50)
    p.add_argument('--repeats', type=int, default=3)
    a = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp())
    train_ips, sample_s = {n: [] for n in a.procs}, {n: [] for n in a.procs}
    try:
        for k in range(a.repeats):
            for n in a.procs:
                env = {**os.environ, 'OMP_NUM_THREADS': str(max(1, cores // n)) if a.device == 'cpu' else '1'}
                out = work / f'run{n}-{k}'
                _, stdout = timed(n, ['train', '--data', a.data, '--config', a.preset, '--batch-size', a.batch, '--steps', a.steps,
                                      '--ckpt-every', a.steps, '--sample-every', 0, '--log-every', a.steps, '--no-progress',
                                      '--device', a.device, '--out', out], env, work)
                train_ips[n].append(float(re.search(r', (\d+) images/s', stdout).group(1)))
                dt, _ = timed(n, ['sample', '--ckpt', out / 'checkpoint.pt', '--num-samples', a.samples, '--steps', a.sample_steps,
                                  '--device', a.device, '--out', work / f's{n}-{k}.png'], env, work)
                sample_s[n].append(dt)
                shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base_t, base_s = statistics.median(train_ips[a.procs[0]]), statistics.median(sample_s[a.procs[0]])
    print(f'{a.device}, {cores} cores, {a.preset}: training {a.steps} steps at global batch {a.batch}; sampling {a.samples} '
          f'images with DDIM {a.sample_steps} steps; medians of {a.repeats}, run alternately')
    print('| processes | threads each | training images/s | per process | x | sampling s (with start-up) | x |')
    print('|---:|---:|---:|---:|---:|---:|---:|')
    for n in a.procs:
        t, s = statistics.median(train_ips[n]), statistics.median(sample_s[n])
        threads = max(1, cores // n) if a.device == 'cpu' else 1
        print(f'| {n} | {threads} | {t:.0f} | {t / n:.0f} | {t / base_t:.2f} | {s:.1f} | {base_s / s:.2f} |')


if __name__ == '__main__':
    main()
