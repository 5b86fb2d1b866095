"""How the schedule and the steps behave on devices, dtypes and shapes: the engineering side of the
mathematical chapters, which check the formulas themselves."""
import math
import subprocess
import sys

import pytest
import torch

from ddpm_lit import NoiseSchedule

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('shape', [(3,), (3, 5), (3, 1, 4, 4), (3, 2, 3, 4, 5)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_q_sample_shapes_dtypes_devices(device, shape, dtype):
    "`t` broadcasts over any shape and device, gives each example its own step, and keeps the input dtype."
    linear = NoiseSchedule.linear()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=dtype, generator=g).to(device)
    e = torch.randn(shape, dtype=dtype, generator=g).to(device)
    t = torch.tensor([0, 499, 999], device=device)
    out = linear.q_sample(x, t, e)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    for i in range(3):   # each example uses its own step
        ab = linear.alphas_cumprod[t[i].item()].item()
        torch.testing.assert_close(out[i], math.sqrt(ab) * x[i] + math.sqrt(1 - ab) * e[i])


def test_to_moves_every_array_and_meta_needs_no_host_read():
    """`to` moves every array, including those computed on first use; on the `meta` device, which has
    shapes and no values, `q_sample` runs, so the device path never reads `t` back to the host."""
    import ddpm_lit.posterior  # noqa: F401  (attaches the posterior arrays that `to` must move too)
    sch = NoiseSchedule.linear()
    assert sch.to('cpu') is sch
    on_meta = sch.to('meta')
    moved = {k: v for k, v in vars(on_meta).items() if isinstance(v, torch.Tensor)}
    assert moved.keys() == {k for k, v in vars(sch).items() if isinstance(v, torch.Tensor)} and len(moved) >= 6
    assert 'posterior_variance' in moved
    assert all(v.device.type == 'meta' for v in moved.values()) and on_meta.T == sch.T and sch.betas.device.type == 'cpu'
    x_meta = torch.empty(4, 3, 8, 8, device='meta')
    t_meta = torch.randint(0, sch.T, (4,), device='meta')
    out = on_meta.q_sample(x_meta, t_meta, torch.empty_like(x_meta))
    assert out.shape == x_meta.shape and out.device.type == 'meta'
    with pytest.raises((RuntimeError, NotImplementedError)):   # a host read fails on meta, so the test above can fail
        int(t_meta.max())


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_gpu_schedule_samples_as_cpu():
    sch = NoiseSchedule.linear()
    on_gpu = sch.to('cuda')
    assert all(torch.equal(v.cpu(), getattr(sch, k)) for k, v in vars(on_gpu).items() if isinstance(v, torch.Tensor))
    x, t = torch.randn(4, 3, 8, 8), torch.tensor([0, 10, 500, 999])
    e = torch.randn_like(x)
    torch.testing.assert_close(on_gpu.q_sample(x.cuda(), t.cuda(), e.cuda()).cpu(), sch.q_sample(x, t, e))


def test_schedule_repr_in_fresh_process():
    "The forward-process module imports on its own, without any notebook's globals."
    out = subprocess.run([sys.executable, '-c', 'from ddpm_lit import NoiseSchedule; print(NoiseSchedule.linear())'],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'NoiseSchedule(T=1000, beta_1=0.0001, beta_T=0.02)'
