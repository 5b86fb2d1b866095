"""What a new user meets in a first hour: a loss within seconds, a progress bar wherever a command makes them wait
(on a terminal), an evaluation that trains nothing first, and samples in the data's range unless asked."""
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest
import torch

from ddpm_lit.training import TrainConfig, train
from test_cli_outputs import one_error_line, run
from test_hostile import TINY                   # the same two-step tiny run the hostile tests share


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A folder with a two-step tiny checkpoint, T = 20: an untrained model, as a first run's first checkpoint is."
    folder = tmp_path_factory.mktemp('first_hour')
    train(TrainConfig(out=str(folder / 'run'), steps=2, **TINY))
    return folder


def on_a_terminal(args, cwd, timeout=300):
    "Run `python -m ddpm_lit ARGS` with its stderr on a pseudo-terminal, as in a shell; (exit status, stdout, terminal text)."
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))   # 30 rows of 100 columns: a new pty has none
    p = subprocess.Popen([sys.executable, '-m', 'ddpm_lit', *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=follower, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    os.close(follower)
    seen = b''
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready: p.kill(); raise AssertionError(f'no output for {timeout} s: {seen[-2000:]!r}')
        try: chunk = os.read(leader, 65536)
        except OSError: break                                 # the process closed the terminal
        if not chunk: break
        seen += chunk
    os.close(leader)
    return p.wait(timeout=60), p.stdout.read().decode(), seen.decode(errors='replace')


def test_the_first_losses_come_within_the_first_steps(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'ddpm_lit', 'train', '--data', 'digits8x8', '--config', 'tiny', '--T', '20',
                        '--batch-size', '8', '--steps', '12', '--log-every', '100', '--sample-every', '0', '--progress',
                        '--device', 'cpu', '--out', 'run'], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    early = [l for l in r.stderr.splitlines() if l.startswith('train: step') and '(then every 100 steps)' in l]
    assert [l.split()[2] for l in early] == ['1/12', '10/12'], r.stderr


def test_sample_shows_a_progress_bar_on_a_terminal_and_none_elsewhere(work):
    status, out, terminal = on_a_terminal(['sample', '--ckpt', 'run/checkpoint.pt', '--out', 'bar.png', '--n', 4,
                                           '--steps', 5, '--device', 'cpu'], work)
    assert status == 0 and 'wrote 4 samples' in out, (out, terminal)
    assert re.search(r'DDIM: +\d+%\|.*\| \d/5 \[', terminal), terminal     # tqdm's bar over the sampler's 5 steps
    status, err = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'quiet.png', '--n', 4, '--steps', 5,
                      '--device', 'cpu', cwd=work)[0::2]
    assert status == 0 and err == '', err                               # not a terminal: nothing on stderr


def test_the_first_evaluation_trains_nothing_and_shows_its_bars(work):
    "The digits classifiers ship with the package: a first evaluation, in an empty cache, trains nothing and writes only statistics."
    cache = work / 'fresh-cache'
    status, out, terminal = on_a_terminal(['evaluate', '--ckpt', 'run/checkpoint.pt', '--fid', '--n', 8, '--steps', 2,
                                           '--cache', cache, '--device', 'cpu'], work)
    assert status == 0 and 'FID' in out, (out, terminal)
    assert 'training' not in terminal and re.search(r'features: +\d+%', terminal), terminal     # the feature pass's bar
    assert [p.relative_to(cache).parts[0] for p in cache.rglob('*') if p.is_file()] == ['stats'], list(cache.rglob('*'))


def test_samples_are_clamped_unless_the_raw_values_are_asked_for(work):
    for extra, name in (([], 'clamped'), (['--no-clip'], 'raw')):
        r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', f'{name}.png', '--save-tensors', *extra, '--n', 8,
                '--steps', 5, '--device', 'cpu', cwd=work)
        assert r[0] == 0, r
    clamped, raw = (torch.load(work / f'{n}.pt', weights_only=True) for n in ('clamped', 'raw'))
    assert raw.abs().max() > 1, raw.abs().max()                         # an untrained model's samples leave [-1, 1]
    assert torch.equal(clamped, raw.clamp(-1, 1))
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'x.png', '--no-clip', cwd=work)
    assert one_error_line(*r) and '--no-clip keeps raw values in the tensor of --save-tensors only' in r[2], r
