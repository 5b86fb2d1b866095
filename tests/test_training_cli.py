"""The trainer as users run it: a kill -9 at any moment leaves a checkpoint that loads and resumes (and the lock and
temporary files it leaves are cleared by the next run), a second trainer on a busy folder is refused, SIGTERM and
SIGINT stop a run cleanly. Training with two `torchrun` processes is checked in nbs/09a_checkpoint.ipynb (a run resumed
exactly) and tests/test_distributed.py."""
import re
import signal
import subprocess
import sys
import time

import pytest

from ddpm_lit.training import load_checkpoint

BASE = ['train', '--data', 'digits8x8', '--config', 'tiny', '--batch-size', '8', '--warmup', '2',
        '--sample-every', '0', '--log-every', '1', '--no-progress', '--device', 'cpu']


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, '-m', 'ddpm_lit', *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_kill_9_leaves_a_checkpoint_that_resumes(tmp_path):
    ckpt = tmp_path / 'run' / 'checkpoint.pt'
    proc = subprocess.Popen([sys.executable, '-m', 'ddpm_lit', *BASE, '--out', 'run', '--steps', '100000', '--ckpt-every', '1'],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if ckpt.exists():
                try:
                    if load_checkpoint(ckpt)['step'] >= 4: break
                except Exception:
                    pass   # the file is replaced atomically, but reading it while training is a race of its own
            time.sleep(0.2)
        else:
            pytest.fail('no checkpoint after 300 s: ' + proc.stderr.read().decode()[-2000:])
        time.sleep(0.37)                      # land somewhere inside a later step, maybe inside a write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None: proc.kill()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(ckpt)             # the checkpoint on disk is complete
    step = state['step']
    assert step >= 4
    assert (tmp_path / 'run' / '.lock').read_text().split()[0] == str(proc.pid)       # the killed run's lock is left...
    leftover = tmp_path / 'run' / f'.checkpoint.pt.ddpm_lit-tmp-{proc.pid}'
    leftover.write_bytes(b'half a checkpoint')                                          # ...and maybe a temporary file
    r = run_cli(*BASE, '--out', 'run', '--steps', step + 2, '--ckpt-every', '1', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f'step {step + 2} of {step + 2} (2 this run' in r.stdout
    assert load_checkpoint(ckpt)['step'] == step + 2
    assert not leftover.exists() and not (tmp_path / 'run' / '.lock').exists()          # both cleared by the next run


def start_long_run(tmp_path, out, sigint_ignored=False):
    "A CLI training run that goes on until stopped, once it has written its first checkpoint; started with SIGINT ignored if asked (as a shell starts a background command)."
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    proc = subprocess.Popen([sys.executable, '-m', 'ddpm_lit', *BASE, '--out', out, '--steps', '100000', '--ckpt-every', '1'],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    deadline = time.time() + 300
    while not (tmp_path / out / 'checkpoint.pt').exists():
        if time.time() > deadline or proc.poll() is not None:
            proc.kill(); pytest.fail('no checkpoint: ' + proc.communicate()[1][-2000:])
        time.sleep(0.2)
    return proc


@pytest.mark.parametrize('sig, sigint_ignored', [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
                         ids=['SIGTERM', 'SIGINT', 'SIGINT-inherited-ignored'])
def test_busy_folder_is_refused_and_signals_stop_cleanly(tmp_path, sig, sigint_ignored):
    "A run started with SIGINT ignored (inherited from its parent) stops on SIGINT all the same: the trainer installs its own handler."
    proc = start_long_run(tmp_path, 'run', sigint_ignored)
    try:
        second = run_cli(*BASE, '--out', 'run', '--steps', '3', cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        assert second.stderr.count('\n') == 1 and 'ddpm-lit: error:' in second.stderr
        assert f'is in use by another run (PID {proc.pid} on' in second.stderr
        proc.send_signal(sig)
        try: out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:               # say whether it went on training (the signal lost) or hung on the way out
            alive = proc.poll() is None
            proc.kill(); out, err = proc.communicate()
            rows = (tmp_path / 'run' / 'log.csv').read_text().splitlines()
            pytest.fail(f'no exit 120 s after {sig.name} (still running: {alive}); last log rows {rows[-2:]}; stderr: {err[-1500:]}')
    finally:
        if proc.poll() is None: proc.kill()
    assert proc.returncode == 130, err
    kept = re.search(r'ddpm-lit: interrupted at step \d+; run/checkpoint.pt holds step (\d+), and the same command resumes from there', err)
    assert kept, err
    assert 'terminate' not in err and 'Traceback' not in err, err
    assert load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['step'] == int(kept.group(1)) >= 1       # the message tells the truth
    assert not (tmp_path / 'run' / '.lock').exists() and not list((tmp_path / 'run').glob('.checkpoint.pt.ddpm_lit-tmp-*'))
    log = (tmp_path / 'run' / 'log.csv').read_text().splitlines()
    assert log[0].startswith('step,') and [int(r.split(',')[0]) for r in log[1:]] == list(range(1, len(log)))   # one writer
