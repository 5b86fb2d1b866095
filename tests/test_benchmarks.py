"""The benchmark scripts run on the CPU and print their tables (the speeds themselves are in BENCHMARKS.md, not here)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(*args):
    return subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'bench_unet.py'), '--device', 'cpu', *args],
                          capture_output=True, text=True, timeout=900)


def test_bench_unet_prints_its_tables():
    r = bench('--batch', '2', '--iters', '1', '--warmup', '1', '--modes', 'fp32', '--diffusers-modes', 'fp32',
              '--trainer-steps', '3', '--trainer-modes', 'eager', '--sample-n', '2', '--sample-steps', '2', '--ddpm-n', '0', '--sample-compile', 'none', '--profile', 'fp32')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'GFLOP' in out and '| ddpm_lit | fp32 eager | 2 |' in out, out
    assert '| eager | 2 |' in out and '| eager | DDIM, 2 steps |' in out and 'Profile of the ddpm_lit training step' in out, out
    flops = float(out.split('FlopCounterMode): ')[1].split()[0])
    assert 30 < flops < 45, flops                     # about 37 GFLOP per training image of the paper's network
    if '| diffusers |' in out: assert 'x diffusers fp32 eager' in out


def test_bench_unet_refuses_an_unknown_mode():
    r = bench('--modes', 'fastest')
    assert r.returncode == 2 and 'invalid choice' in r.stderr


def test_bench_times_the_library_train_step(monkeypatch):
    "The benchmark's training step is ddpm_lit.training.train_step itself, not a copy of it."
    import importlib.util
    import torch
    from ddpm_lit import UNet
    from ddpm_lit import training
    spec = importlib.util.spec_from_file_location('bench_unet', ROOT / 'benchmarks' / 'bench_unet.py')
    bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
    calls = []
    def counted(state, x, y=None):
        calls.append(x.shape)
        return training.train_step(state, x, y)
    monkeypatch.setattr(bench, 'train_step', counted)
    small = lambda: UNet(in_channels=3, base_channels=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), image_size=32)
    step = bench.make_train_step(small, torch.device('cpu'), 2, False, False, None)
    step(); step()
    assert calls == [torch.Size([2, 3, 32, 32])] * 2


def test_bench_compiles_with_the_library_compile_state(monkeypatch):
    "In a compiled mode, the benchmark's step is train_step on a state that ddpm_lit.training.compile_state compiled, as the trainer's."
    import importlib.util
    import torch
    from ddpm_lit import UNet
    from ddpm_lit import training
    spec = importlib.util.spec_from_file_location('bench_unet', ROOT / 'benchmarks' / 'bench_unet.py')
    bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
    assert bench.compile_state is training.compile_state and bench.train_step is training.train_step
    compiled, stepped = [], []
    def recorded(state, mode='default'):
        compiled.append((state, mode)); return state          # the wiring only: what compiling does is the training chapter's test
    monkeypatch.setattr(bench, 'compile_state', recorded)
    monkeypatch.setattr(bench, 'train_step', lambda state, x, y=None: stepped.append(state) or training.train_step(state, x, y))
    small = lambda: UNet(in_channels=3, base_channels=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), image_size=32)
    bench.make_train_step(small, torch.device('cpu'), 2, False, False, None)()
    assert compiled == [] and len(stepped) == 1                    # eager: no compile_state
    bench.make_train_step(small, torch.device('cpu'), 2, False, False, 'max-autotune-no-cudagraphs')()
    assert len(compiled) == 1 and compiled[0][1] == 'max-autotune-no-cudagraphs' and stepped[1] is compiled[0][0]


def compile_time(*args):
    return subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'compile_time.py'), *args],
                          capture_output=True, text=True, timeout=900)


def test_compile_time_prints_its_table():
    "The wiring only, eagerly (a cold compile takes minutes on a CPU): one row per configuration asked for."
    r = compile_time('--preset', 'tiny', '--batch', '2', '--steps', '2', '--modes', 'eager')
    assert r.returncode == 0, r.stderr
    rows = [l for l in r.stdout.splitlines() if l.startswith('| eager |')]
    assert len(rows) == 1, r.stdout
    first, rest = (float(v) for v in rows[0].strip('| ').split(' | ')[1:])
    assert first > 0 and rest > 0


def test_compile_time_refuses_bad_input():
    r = compile_time('--steps', '0')
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == 'compile_time.py: error: --batch and --steps must be at least 1'
    r = compile_time('--modes', 'fastest')
    assert r.returncode == 2 and 'invalid choice' in r.stderr
