"""What `ddpm-lit` writes: never over a checkpoint, never over an existing file without --overwrite, and every
output and sampler setting checked before any sampling is done."""
import contextlib
import hashlib
import io
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from ddpm_lit import cli
from ddpm_lit.training import TrainConfig, train

TRAIN = ['train', '--data', 'digits8x8', '--config', 'tiny', '--batch-size', '8', '--warmup', '1', '--sample-every', '0',
         '--log-every', '1', '--no-progress', '--device', 'cpu']


def run(*args, cwd):
    "cli.main(args) in the folder cwd: (exit status, stdout, stderr)."
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: code = cli.main([str(a) for a in args])
            except SystemExit as e: code = e.code
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def one_error_line(code, out, err):
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and lines[0].startswith('ddpm-lit: error: ') and not out


def tree_hash(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    "A folder with a two-step checkpoint of the tiny U-Net, T = 20."
    folder = tmp_path_factory.mktemp('cli')
    train(TrainConfig(data='digits8x8', out=str(folder / 'run'), preset='tiny', steps=2, batch_size=8, warmup=1, T=20,
                      sample_steps=5, sample_every=0, log_every=1, device='cpu', progress=False))
    return folder


@pytest.fixture
def no_sampling(monkeypatch):
    "Make any sampling fail the test: the checks must come first."
    def refuse(*args, **kwargs): raise AssertionError('sampling started before the settings were checked')
    monkeypatch.setattr(cli, 'sample_images', refuse, raising=False)


def test_sample_never_replaces_the_checkpoint(run_dir):
    "The reported data loss: --out run/checkpoint.png --save-tensors wrote the samples over run/checkpoint.pt."
    before = tree_hash(run_dir)
    for extra in ([], ['--overwrite']):
        r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'run/checkpoint.png', '--save-tensors', '--n', 2,
                '--device', 'cpu', *extra, cwd=run_dir)
        assert one_error_line(*r) and 'is a checkpoint' in r[2], r
    assert tree_hash(run_dir) == before


def test_a_checkpoint_under_any_name_is_never_replaced(run_dir):
    (run_dir / 'copy.pt').write_bytes((run_dir / 'run' / 'checkpoint.pt').read_bytes())
    before = tree_hash(run_dir)
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'copy.png', '--save-tensors', '--overwrite', '--n', 2,
            '--device', 'cpu', cwd=run_dir)
    assert one_error_line(*r) and 'copy.pt is a checkpoint' in r[2], r
    r = run('fid-stats', '--data', 'digits8x8', '--out', 'run/checkpoint.pt', '--overwrite', cwd=run_dir)
    assert one_error_line(*r), r
    assert tree_hash(run_dir) == before


def test_existing_outputs_need_overwrite(run_dir):
    target = run_dir / 'taken.png'
    target.write_text('not mine')
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'taken.png', '--n', 2, '--steps', 2, '--device', 'cpu', cwd=run_dir)
    assert one_error_line(*r) and '--overwrite' in r[2], r
    assert target.read_text() == 'not mine'
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'taken.png', '--n', 2, '--steps', 2, '--device', 'cpu',
            '--overwrite', cwd=run_dir)
    assert r[0] == 0, r
    assert Image.open(target).format == 'PNG'


@pytest.mark.parametrize('eta', ['1.5', 'nan', 'inf', '-0.1'])
def test_eta_is_checked_before_sampling(run_dir, no_sampling, eta):
    before = tree_hash(run_dir)
    for command in (['sample', '--out', 'eta.png'], ['evaluate', '--fid']):
        r = run(*command, '--ckpt', 'run/checkpoint.pt', '--eta', eta, '--device', 'cpu', cwd=run_dir)
        assert one_error_line(*r) and '--eta must be a finite number from 0 to 1' in r[2], r
    assert tree_hash(run_dir) == before


@pytest.mark.parametrize('out', ['samples', 'samples.pt', 'samples.txt'])
def test_sample_out_must_be_an_image_checked_before_sampling(run_dir, no_sampling, out):
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', out, '--device', 'cpu', cwd=run_dir)
    assert one_error_line(*r) and 'must end in .png' in r[2], r
    assert not (run_dir / out).exists()


def test_sample_writes_the_format_its_suffix_names(run_dir):
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'grid.jpg', '--save-tensors', '--n', 3, '--steps', 2,
            '--device', 'cpu', cwd=run_dir)
    assert r[0] == 0, r
    assert Image.open(run_dir / 'grid.jpg').format == 'JPEG'
    x = torch.load(run_dir / 'grid.pt')
    assert x.shape == (3, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert not list(run_dir.glob('.*tmp*'))                       # atomic writes leave no temporary files
