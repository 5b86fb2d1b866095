"""Training and sampling throughput of the paper's CIFAR-10 U-Net: ddpm_lit against diffusers' UNet2DModel
built to the same architecture, measured side by side in one run.

    python benchmarks/bench_unet.py                      # on the GPU if there is one, else a small CPU run
    python benchmarks/bench_unet.py --device cpu --batch 8 --iters 5

Prints a Markdown table. One training step is forward, L_simple, backward, Adam step and EMA update.
Each number is the median over the timed iterations, after warm-up iterations (and compilation).
"""
import argparse
import contextlib
import platform
import statistics
import time

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.flop_counter import FlopCounterMode

from ddpm_lit import NoiseSchedule, UNet, ddpm_loss, ddim_sample, ddpm_sample


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


def train_throughput(make, device, batch, bf16, channels_last, compile_, iters, warmup):
    "Images/s of full training steps, and peak memory in GiB."
    torch.manual_seed(0)
    net = make().to(device)
    if channels_last: net = net.to(memory_format=torch.channels_last)
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9999), use_buffers=True)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, fused=device.type == 'cuda')
    model = torch.compile(net) if compile_ else net
    sch = NoiseSchedule.linear()
    x = torch.rand(batch, 3, 32, 32, device=device) * 2 - 1
    if channels_last: x = x.contiguous(memory_format=torch.channels_last)
    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = ddpm_loss(model, sch, x)
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step(); ema.update_parameters(net)
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
    sec = time_steps(step, iters, warmup, device)
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else float('nan')
    return batch / sec, mem


def flops_per_image(make, device):
    "Model FLOPs of forward + backward for one image, counted by FlopCounterMode at batch 8."
    net = make().to(device)
    x = torch.randn(8, 3, 32, 32, device=device); t = torch.randint(0, 1000, (8,), device=device)
    with FlopCounterMode(display=False) as fc:
        net(x, t).float().square().mean().backward()
    return fc.get_total_flops() / 8


def matmul_peak(device):
    "Measured bf16 matmul TFLOP/s (8192^3), the ceiling for model-FLOPs utilisation."
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16); b = torch.randn_like(a)
    sec = time_steps(lambda: a @ b, 20, 5, device)
    return 2 * 8192**3 / sec / 1e12


def sampling_throughput(device, n, bf16):
    net = UNet.ddpm_cifar10().to(device).eval()
    if device.type == 'cuda': net = net.to(memory_format=torch.channels_last)
    sch = NoiseSchedule.linear()
    out = {}
    for name, fn in [('DDIM, 50 steps', lambda: ddim_sample(net, sch, (n, 3, 32, 32), steps=50, device=device)),
                     ('DDPM, 1000 steps', lambda: ddpm_sample(net, sch, (n, 3, 32, 32), device=device))]:
        if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx: sec = time_steps(fn, 1, 1 if name.startswith('DDIM') else 0, device)
        mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else float('nan')
        out[name] = (n / sec, mem)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batch', type=int, nargs='+', default=None)
    p.add_argument('--iters', type=int, default=None)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--no-compile', action='store_true')
    p.add_argument('--sample-n', type=int, default=None)
    p.add_argument('--skip-train', action='store_true', help='only the sampling table')
    a = p.parse_args()
    device = torch.device(a.device)
    gpu = device.type == 'cuda'
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    batches = a.batch or ([128, 256, 512] if gpu else [8])
    iters, warmup = a.iters or (20 if gpu else 5), a.warmup or (5 if gpu else 2)
    name = torch.cuda.get_device_name(device) if gpu else platform.processor() or platform.machine()
    print(f'# U-Net throughput on {name}, torch {torch.__version__}, {time.strftime("%Y-%m-%d")}\n')
    modes = [('fp32 eager', False, False, False)]
    if gpu:
        modes += [('bf16', True, False, False), ('bf16 + channels_last', True, True, False)]
        if not a.no_compile: modes += [('bf16 + channels_last + compile', True, True, True)]
    makers = {'ddpm_lit': UNet.ddpm_cifar10}
    try:
        diffusers_unet(); makers['diffusers'] = lambda: Wrapped(diffusers_unet())
    except ImportError:
        print('(diffusers is not installed: pip install diffusers, to add its rows)\n')
    fl = flops_per_image(UNet.ddpm_cifar10, device)
    peak = matmul_peak(device) if gpu else None
    print(f'model FLOPs per training image (forward + backward, FlopCounterMode): {fl / 1e9:.1f} GFLOP')
    if peak: print(f'measured bf16 matmul peak: {peak:.0f} TFLOP/s\n')
    print('| network | mode | batch | images/s | peak memory (GiB) | MFU |')
    print('|---|---|---|---|---|---|')
    for mname, make in ({} if a.skip_train else makers).items():
        for mode, bf16, cl, comp in modes:
            if mname == 'diffusers' and mode not in ('fp32 eager', 'bf16 + channels_last + compile'): continue
            for b in batches:
                try:
                    ips, mem = train_throughput(make, device, b, bf16, cl, comp, iters, warmup)
                except torch.cuda.OutOfMemoryError:
                    print(f'| {mname} | {mode} | {b} | out of memory | | |'); torch.cuda.empty_cache(); continue
                mfu = f'{ips * fl / (peak * 1e12):.1%}' if peak else ''
                print(f'| {mname} | {mode} | {b} | {ips:,.0f} | {mem:.2f} | {mfu} |' if ips >= 100 else f'| {mname} | {mode} | {b} | {ips:.2f} | | |', flush=True)
                if gpu: torch.cuda.empty_cache()
    if gpu or a.sample_n:
        n = a.sample_n or 1000
        print(f'\nSampling {n} images with ddpm_lit ({"bf16" if gpu else "fp32"}):\n')
        print('| sampler | images/s | peak memory (GiB) |\n|---|---|---|')
        for sname, (ips, mem) in sampling_throughput(device, n, gpu).items():
            print(f'| {sname} | {ips:,.1f} | {mem:.2f} |')


if __name__ == '__main__':
    main()
