"""The exported package imports on its own, without any notebook, and exposes its API at the top."""
import subprocess
import sys


def run(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)


def test_import_in_fresh_process():
    res = run('import ddpm_lit, torch; s = ddpm_lit.NoiseSchedule.linear(); '
              'x = s.q_sample(torch.zeros(2, 3), torch.tensor([0, 999])); print(ddpm_lit.__version__, tuple(x.shape))')
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[1:] == ['(2,', '3)']


def test_every_module_imports():
    res = run('import pkgutil, importlib, ddpm_lit\n'
              'for m in pkgutil.iter_modules(ddpm_lit.__path__): importlib.import_module("ddpm_lit." + m.name)')
    assert res.returncode == 0, res.stderr


def test_readme_example_runs():
    "The first Python example of the README runs as written."
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / 'README.md').read_text()
    code = readme.split('```python\n', 1)[1].split('```', 1)[0]
    res = run(code + '\nassert samples.shape == (16, 1, 28, 28) and loss.ndim == 0\n')
    assert res.returncode == 0, res.stderr
