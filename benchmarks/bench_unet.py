"""Training and sampling throughput of the paper's CIFAR-10 U-Net: ddpm_lit against diffusers' UNet2DModel
built to the same architecture, measured side by side in one run.

    python benchmarks/bench_unet.py                       # on the GPU if there is one, else a small CPU run
    python benchmarks/bench_unet.py --device cpu --batch 8 --iters 5
    python benchmarks/bench_unet.py --profile bf16-cl     # where the time of one training step goes

Prints Markdown tables. One training step is the library's own `ddpm_lit.training.train_step` (forward, L_simple,
backward, gradient clipping, Adam step, LR schedule and EMA update), the same function for both networks; in a
compiled mode it runs on a state that the library's `compile_state` compiled (the network, and the update after
backward: clipping, Adam and the EMA), as the trainer does. Each number is the median over individually timed
iterations, after warm-up iterations (and compilation). The `trainer` rows run ddpm_lit's own `train()` on the
embedded digits, so they include gathering the batches on the device and the trainer's read-back of the losses every
`log_every` steps. On a GPU, it also counts the host synchronisations inside one step of each configuration.
"""
import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ddpm_lit import NoiseSchedule, UNet, ddim_sample, ddpm_sample
from ddpm_lit.training import COMPILE_MODES, TrainConfig, compile_state, train, train_state, train_step

# name: (label, bf16, channels_last, torch.compile mode or None)
MODES = {
    'fp32': ('fp32 eager', False, False, None),
    'fp32-compile': ('fp32 + compile', False, False, 'default'),
    'fp32-cl': ('fp32 + channels_last', False, True, None),
    'bf16': ('bf16', True, False, None),
    'bf16-cl': ('bf16 + channels_last', True, True, None),
    'compile': ('bf16 + channels_last + compile', True, True, 'default'),
    'autotune': ('bf16 + channels_last + compile max-autotune-no-cudagraphs', True, True, 'max-autotune-no-cudagraphs'),
    'cudagraphs': ('bf16 + channels_last + compile reduce-overhead (CUDA graphs)', True, True, 'reduce-overhead'),
}
GPU_MODES = ['fp32', 'bf16', 'bf16-cl', 'compile', 'autotune', 'cudagraphs']
CPU_MODES = ['fp32', 'fp32-compile']
DIFFUSERS_MODES = ['fp32', 'fp32-compile', 'compile', 'cudagraphs']   # its default, and its fastest settings


def diffusers_unet():
    "diffusers' UNet2DModel with the DDPM CIFAR-10 architecture (35.7M parameters)."
    from diffusers import UNet2DModel
    return UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                       block_out_channels=(128, 256, 256, 256), norm_num_groups=32, dropout=0.1, attention_head_dim=None,
                       down_block_types=('DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'),
                       up_block_types=('UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'))


class Wrapped(torch.nn.Module):
    "diffusers' model behind the eps_model(x, t) -> tensor interface."
    def __init__(self, m):
        super().__init__(); self.m = m
    def forward(self, x, t): return self.m(x, t).sample


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def time_steps(step, iters, warmup, device):
    "Median seconds of one call of step(), each call timed on its own."
    for _ in range(warmup): step()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter(); step(); sync(device); times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_train_step(make, device, batch, bf16, channels_last, compile_mode):
    "A closure running the library's `train_step` (one full optimiser step) on a fresh network and a fixed batch; compiled by the library's `compile_state` when a compile mode is given."
    torch.manual_seed(0)
    net = make().to(device)
    if channels_last: net = net.to(memory_format=torch.channels_last)
    state = train_state(net, TrainConfig(preset='ddpm_cifar10'), bf16=bf16)      # the paper's recipe, as the trainer builds it
    if compile_mode: compile_state(state, compile_mode)
    x = torch.rand(batch, 3, 32, 32, device=device) * 2 - 1
    if channels_last: x = x.contiguous(memory_format=torch.channels_last)
    return lambda: train_step(state, x)


def host_syncs(step):
    "How many times one call of step() makes the host wait for the GPU, as torch.cuda.set_sync_debug_mode('warn') reports it."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try: step()
        finally: torch.cuda.set_sync_debug_mode('default')
    return sum('synchroniz' in str(w.message) for w in caught)


def gib(mem):
    "A memory figure for the tables: blank where none was measured (on a CPU)."
    return '' if mem != mem else f'{mem:.2f}'


def allocated(device):
    return torch.cuda.memory_allocated(device) if device.type == 'cuda' else 0


def train_throughput(configs, device, batch, iters, warmup):
    """Images/s and peak memory (GiB) of full training steps for each (network, mode) in `configs`, timed side by
    side: every round times one step of each configuration, in a rotating order, so that a slow spell of the machine
    falls on all of them alike. Memory is each configuration's own: its weights, gradients, optimiser and average
    state, plus the largest rise of the allocator during its step. A configuration that runs out of memory gets None.
    On a GPU, `syncs` gets the host synchronisations of one (untimed) step of each configuration after its warm-up."""
    steps, state, transient, times, syncs = {}, {}, {}, {}, {}
    for key in configs:
        (make, mode) = configs[key]
        _, bf16, cl, comp = MODES[mode]
        before = allocated(device)
        try:
            steps[key] = make_train_step(make, device, batch, bf16, cl, comp)
            for _ in range(warmup + (2 if comp else 0)): steps[key]()
            sync(device)
            if device.type == 'cuda': syncs[key] = host_syncs(steps[key]); sync(device)
        except torch.cuda.OutOfMemoryError:
            steps.pop(key, None); torch.cuda.empty_cache(); continue
        state[key], transient[key], times[key] = allocated(device) - before, 0, []
    keys = list(steps)
    for r in range(iters):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
            base = allocated(device)
            sync(device); t0 = time.perf_counter(); steps[key](); sync(device)
            times[key].append(time.perf_counter() - t0)
            if device.type == 'cuda': transient[key] = max(transient[key], torch.cuda.max_memory_allocated(device) - base)
    mem = lambda k: (state[k] + transient[k]) / 2**30 if device.type == 'cuda' else float('nan')
    return {k: (batch / statistics.median(times[k]), mem(k), times[k], syncs.get(k)) if k in times else None for k in configs}


def trainer_throughput(device, batch, steps, compile_mode):
    "Images/s of ddpm_lit's train() on the embedded digits (padded to 32x32), median of its logged intervals."
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(data='digits', out=out, preset='ddpm_cifar10', steps=steps, batch_size=batch, warmup=10,
                          ckpt_every=10**9, sample_every=0, log_every=max(1, steps // 10), device=device.type,
                          compile='yes' if compile_mode else 'no', compile_mode=compile_mode or 'default', progress=False)
        if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
        train(cfg)
        rows = (Path(out) / 'log.csv').read_text().splitlines()[2:]     # the first interval holds the warm-up
        mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else float('nan')
        return statistics.median(float(r.split(',')[3]) for r in rows), mem


def flops_per_image(make, device):
    "Model FLOPs of forward + backward for one image, counted by FlopCounterMode at batch 8."
    net = make().to(device)
    x = torch.randn(8, 3, 32, 32, device=device); t = torch.randint(0, 1000, (8,), device=device)
    with FlopCounterMode(display=False) as fc:
        net(x, t).float().square().mean().backward()
    return fc.get_total_flops() / 8


def matmul_peak(device, dtype):
    "Measured matrix-product TFLOP/s (8192^3 on a GPU, 2048^3 on a CPU), the ceiling for model-FLOPs utilisation."
    n = 8192 if device.type == 'cuda' else 2048
    a = torch.randn(n, n, device=device, dtype=dtype); b = torch.randn_like(a)
    sec = time_steps(lambda: a @ b, 20 if device.type == 'cuda' else 5, 3, device)
    return 2 * n**3 / sec / 1e12


def sampling_throughput(device, n, batch, bf16, compile_mode, ddpm_n, ddim_steps=50):
    "Images/s of DDIM with ddim_steps (50) over n images and of DDPM-1000 over ddpm_n images, in batches; peak memory."
    net = UNet.ddpm_cifar10().to(device).eval()
    if device.type == 'cuda': net = net.to(memory_format=torch.channels_last)
    model = torch.compile(net, mode=compile_mode) if compile_mode else net
    sch = NoiseSchedule.linear().to(device)
    ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    def run(sampler, total):
        for i in range(0, total, batch):
            shape = (min(batch, total - i), 3, 32, 32)
            with ctx(): sampler(shape)
    ddim = lambda shape: ddim_sample(model, sch, shape, steps=ddim_steps, device=device)
    ddpm = lambda shape: ddpm_sample(model, sch, shape, device=device)
    out = {}
    with torch.inference_mode():
        run(ddim, min(batch, n))                                                # warm-up (and compilation)
        for name, sampler, total in [(f'DDIM, {ddim_steps} steps', ddim, n), ('DDPM, 1000 steps', ddpm, ddpm_n)]:
            if total == 0: continue
            if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
            sync(device); t0 = time.perf_counter(); run(sampler, total); sync(device)
            mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else float('nan')
            out[name] = (total / (time.perf_counter() - t0), mem)
    return out


def profile_step(device, batch, mode, steps=5):
    "Operators of ddpm_lit's training step that take the most time, from torch.profiler over a few steps."
    from torch.profiler import profile, ProfilerActivity
    _, bf16, cl, comp = MODES[mode]
    step = make_train_step(UNet.ddpm_cifar10, device, batch, bf16, cl, comp)
    for _ in range(3): step()
    sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    with profile(activities=acts) as prof:
        for _ in range(steps): step()
        sync(device)
    key = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    events = [e for e in prof.key_averages() if getattr(e, key) > 0]
    total = sum(getattr(e, key) for e in events)
    print(f'\nProfile of the ddpm_lit training step, {MODES[mode][0]}, batch {batch}, {steps} steps '
          f'({"GPU kernel" if device.type == "cuda" else "CPU"} self time):\n')
    print('| operator | ms per step | share |\n|---|---|---|')
    for e in sorted(events, key=lambda e: -getattr(e, key))[:15]:
        print(f'| `{e.key[:70]}` | {getattr(e, key) / 1e3 / steps:.2f} | {getattr(e, key) / total:.1%} |')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batch', type=int, nargs='+', default=None, help='training batch sizes')
    p.add_argument('--modes', nargs='+', default=None, choices=list(MODES), help='ddpm_lit training modes')
    p.add_argument('--diffusers-modes', nargs='+', default=None, choices=list(MODES))
    p.add_argument('--iters', type=int, default=None)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--trainer-steps', type=int, default=None, help="steps of the trainer rows (0: none)")
    p.add_argument('--trainer-modes', nargs='+', default=None, choices=['eager', *COMPILE_MODES],
                   help='the trainer rows: eager, or compiled in these torch.compile modes')
    p.add_argument('--sample-n', type=int, default=None, help='images for the DDIM row (0: no sampling)')
    p.add_argument('--ddpm-n', type=int, default=None, help='images for the DDPM-1000 row (0: none)')
    p.add_argument('--sample-batch', type=int, default=None)
    p.add_argument('--sample-steps', type=int, default=50, help='DDIM steps of the sampling row (50, as published; fewer to check the wiring)')
    p.add_argument('--sample-compile', default='reduce-overhead', help="compile mode of the compiled sampling rows ('none': skip them)")
    p.add_argument('--skip-train', action='store_true', help='only the sampling table')
    p.add_argument('--profile', default=None, choices=list(MODES), help='also profile one training mode')
    a = p.parse_args()
    device = torch.device(a.device)
    gpu = device.type == 'cuda'
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    batches = a.batch or ([128, 256, 512, 1024] if gpu else [8])
    iters, warmup = a.iters or (20 if gpu else 5), a.warmup or (5 if gpu else 2)
    modes = a.modes or (GPU_MODES if gpu else CPU_MODES)
    dmodes = a.diffusers_modes if a.diffusers_modes is not None else [m for m in DIFFUSERS_MODES if m in modes]
    name = torch.cuda.get_device_name(device) if gpu else (platform.processor() or platform.machine()) + f', {torch.get_num_threads()} threads'
    print(f'# U-Net throughput on {name}, torch {torch.__version__}, {time.strftime("%Y-%m-%d")}\n')
    print('```\npython ' + ' '.join(sys.argv) + '\n```\n')
    makers = {'ddpm_lit': UNet.ddpm_cifar10}
    try:
        diffusers_unet(); makers['diffusers'] = lambda: Wrapped(diffusers_unet())
        import diffusers; print(f'diffusers {diffusers.__version__}\n')
    except ImportError:
        print('(diffusers is not installed: pip install diffusers, to add its rows)\n')
    fl = flops_per_image(UNet.ddpm_cifar10, device)
    peak_dtype = torch.bfloat16 if gpu else torch.float32
    peak = matmul_peak(device, peak_dtype)
    print(f'model FLOPs per training image (forward + backward, FlopCounterMode): {fl / 1e9:.1f} GFLOP')
    print(f'measured {"bf16" if gpu else "fp32"} matmul peak: {peak:.2f} TFLOP/s\n')
    if not a.skip_train:
        print('| network | mode | batch | images/s | peak memory (GiB) | MFU |')
        print('|---|---|---|---|---|---|')
        best, paired, syncs = {}, [], []
        configs = {(mname, mode): (make, mode) for mname, make in makers.items()
                   for mode in (modes if mname == 'ddpm_lit' else dmodes)}
        for b in batches:
            results = train_throughput(configs, device, b, iters, warmup)
            for (mname, mode), res in results.items():
                if res is None:
                    print(f'| {mname} | {MODES[mode][0]} | {b} | out of memory | | |'); continue
                ips, mem, _, _ = res
                best[mname, mode] = max(best.get((mname, mode), (0, 0)), (ips, b))
                fmt = f'{ips:,.0f}' if ips >= 100 else f'{ips:.2f}'
                print(f"| {mname} | {MODES[mode][0]} | {b} | {fmt} | {gib(mem)} | "
                      f"{ips * fl / (peak * 1e12):.1%} |", flush=True)
            for mode in dmodes:                   # the same mode, round by round: the ratio of two steps timed back to back
                ours_r, theirs_r = results.get(('ddpm_lit', mode)), results.get(('diffusers', mode))
                if ours_r and theirs_r:
                    r = sorted(d / o for o, d in zip(ours_r[2], theirs_r[2]))
                    paired.append(f'- {MODES[mode][0]}, batch {b}: ddpm_lit is {statistics.median(r):.2f}x diffusers '
                                  f'(median of {len(r)} paired rounds; quartiles {r[len(r) // 4]:.2f} to {r[(3 * len(r)) // 4]:.2f})')
            if gpu:
                syncs.append(f'- batch {b}: ' + ', '.join(f'{mname} {MODES[mode][0]}: {res[3]}'
                                                           for (mname, mode), res in results.items() if res is not None))
                torch.cuda.empty_cache()
            torch._dynamo.reset()
        if paired: print('\nSame mode, same batch, timed side by side:\n' + '\n'.join(paired))
        if syncs: print('\nHost synchronisations inside one training step (torch.cuda.set_sync_debug_mode):\n' + '\n'.join(syncs))
        ours = max((v for (m, _), v in best.items() if m == 'ddpm_lit'), default=None)
        if ours:
            print(f'\nBest ddpm_lit: {ours[0]:,.1f} images/s (batch {ours[1]}); against the best batch of each diffusers mode:')
            for mode in dmodes:
                if ('diffusers', mode) in best:
                    d = best['diffusers', mode]
                    print(f'- {ours[0] / d[0]:.2f}x diffusers {MODES[mode][0]} at its best batch ({d[0]:,.1f} images/s, batch {d[1]})')
        trainer_steps = a.trainer_steps if a.trainer_steps is not None else (200 if gpu else 12)
        if trainer_steps:
            print('\nddpm_lit `train()` on the embedded digits (batches gathered on the device, losses read back every log_every steps):\n')
            print('| trainer | batch | images/s | peak memory (GiB) |\n|---|---|---|---|')
            tb = ours[1] if ours else batches[0]
            for tm in a.trainer_modes or (['eager', 'default', 'reduce-overhead'] if gpu else ['eager', 'default']):
                label, cm = ('eager', None) if tm == 'eager' else (f'compile {tm}', tm)
                ips, mem = trainer_throughput(device, tb, trainer_steps, cm)
                print(f'| {label} | {tb} | {ips:,.1f} | {gib(mem)} |', flush=True)
                torch._dynamo.reset()
    n = a.sample_n if a.sample_n is not None else (2000 if gpu else 0)
    if n:
        sb = a.sample_batch or (1000 if gpu else n)
        ddpm_n = a.ddpm_n if a.ddpm_n is not None else (min(n, sb) if gpu else 0)
        print(f'\nSampling with ddpm_lit ({"bf16" if gpu else "fp32"}), batches of {sb}; DDIM-{a.sample_steps} over {n} images, DDPM-1000 over {ddpm_n}:\n')
        print('| network | sampler | images/s | 50,000 images take | peak memory (GiB) |\n|---|---|---|---|---|')
        for label, cm in [('eager', None)] + ([] if a.sample_compile == 'none' else [(f'compile {a.sample_compile}', a.sample_compile)]):
            for sname, (ips, mem) in sampling_throughput(device, n, sb, gpu, cm, ddpm_n, a.sample_steps).items():
                print(f'| {label} | {sname} | {ips:,.1f} | {50_000 / ips / 60:,.1f} min | {gib(mem)} |' if ips >= 10 else
                      f'| {label} | {sname} | {ips:.3g} | {50_000 / ips / 3600:,.0f} h | {gib(mem)} |', flush=True)
            torch._dynamo.reset()
    if a.profile:
        profile_step(device, batches[0], a.profile)


if __name__ == '__main__':
    main()
