"""Many processes, one result: under `torchrun` (two CPU processes, Gloo) a checkpoint of another process count is
refused, `fid-stats` shares its work and gives what one process gives, every option passes through torchrun's own
parser, `--max-restarts` survives a killed worker, and a process that stops answering is named.

Two claims of the same kind are checked in the book, where a reader sees them: a two-process run resumed exactly
(nbs/09a_checkpoint.ipynb, with its report from the first process alone and a random state per process), and `sample`
and `evaluate` giving under torchrun what one process gives, on the book's model (nbs/12_evaluation.ipynb).

Every run here, one process or two, has one thread per process (OMP_NUM_THREADS=1, what torchrun sets): the CPU's
arithmetic may round differently with another thread count, and the claim is about processes, not threads."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_lit.checkpoint import load_checkpoint
from ddpm_lit.cli import _parser

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
TRAIN = ['train', '--data', 'digits8x8', '--config', 'tiny', '--batch-size', '8', '--warmup', '2', '--sample-every', '0',
         '--log-every', '1', '--no-progress', '--device', 'cpu']


def one(*args, cwd):
    "The command in one process."
    return subprocess.run([sys.executable, '-m', 'ddpm_lit', *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=900, env=ENV)


def two(*args, cwd, extra=()):
    "The command in two torchrun processes on this machine."
    return subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc-per-node=2', *extra, '-m', 'ddpm_lit',
                           *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=900, env=ENV)


def losses(path):
    "(step, loss) of every row of a log.csv."
    return [tuple(r.split(',')[:2]) for r in Path(path).read_text().splitlines()[1:]]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A folder with a tiny model trained for 4 steps by one process (run/checkpoint.pt)."
    folder = tmp_path_factory.mktemp('dist')
    r = one(*TRAIN, '--out', 'run', '--steps', 4, '--T', 50, cwd=folder)
    assert r.returncode == 0, r.stderr
    return folder


def test_another_process_count_is_refused(trained, tmp_path):
    ckpt = trained / 'run' / 'checkpoint.pt'
    before = ckpt.read_bytes()
    r = two(*TRAIN, '--out', str(trained / 'run'), '--steps', 6, '--T', 50, cwd=tmp_path)
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.startswith('ddpm-lit')]
    assert lines and all('was written by 1 process and this run has 2; resume it with 1' in l for l in lines), r.stderr[-2000:]
    assert ckpt.read_bytes() == before and 'ddpm_lit/' not in r.stderr               # torchrun's own report, no traceback of ours


def test_fewer_samples_than_processes_are_refused(trained):
    r = two('sample', '--ckpt', 'run/checkpoint.pt', '--num-samples', 1, '--steps', 4, '--out', 'few.png', '--device', 'cpu', cwd=trained)
    lines = [l for l in r.stderr.splitlines() if l.startswith('ddpm-lit')]
    assert r.returncode != 0 and lines and all('--num-samples 1 is fewer than the 2 processes' in l for l in lines), r.stderr[-2000:]
    assert not (trained / 'few.png').exists()


def test_samples_depend_on_the_seed_and_index_only(trained):
    "Another batch size draws the same noise for each sample; the network's arithmetic in another batch shape is the only difference."
    args = ('sample', '--ckpt', 'run/checkpoint.pt', '--num-samples', 6, '--steps', 4, '--sampler', 'ddpm', '--save-tensors', '--device', 'cpu')
    assert one(*args, '--batch-size', 6, '--out', 'b6.png', cwd=trained).returncode == 0
    assert one(*args, '--batch-size', 4, '--out', 'b4.png', cwd=trained).returncode == 0
    a, b = torch.load(trained / 'b6.pt'), torch.load(trained / 'b4.pt')
    assert (a - b).abs().max() < 1e-4                                                 # a different seed differs by about 1
    assert one(*args, '--batch-size', 6, '--seed', 1, '--out', 's1.png', cwd=trained).returncode == 0
    assert (torch.load(trained / 's1.pt') - a).abs().max() > 0.1


def test_fid_stats_shared_out_gives_what_one_process_gives(tmp_path):
    args = ('fid-stats', '--data', 'digits8x8', '--split', 'reference', '--device', 'cpu')
    r1, r2 = one(*args, '--out', 'one.npz', cwd=tmp_path), two(*args, '--out', 'two.npz', cwd=tmp_path)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr[-3000:]
    assert r2.stdout.count('wrote the statistics') == 1
    s1, s2 = np.load(tmp_path / 'one.npz'), np.load(tmp_path / 'two.npz')
    assert np.array_equal(s1['mu'], s2['mu']) and np.array_equal(s1['sigma'], s2['sigma'])


def test_every_option_passes_through_torchrun():
    "torchrun's parser leaves every option of every command to the script: none is read as one of torchrun's own."
    from torch.distributed.run import get_args_parser
    commands = _parser()._subparsers._group_actions[0].choices
    checked = 0
    for name, q in commands.items():
        for action in q._actions:
            for flag in action.option_strings:
                if flag in ('-h', '--help', '--n'): continue                # --n: the short alias, not for torchrun
                args = get_args_parser().parse_args(['--nproc-per-node=2', '-m', 'ddpm_lit', name, flag, '1'])
                assert args.training_script_args == [name, flag, '1'], (name, flag, args)
                checked += 1
    assert checked > 60


def worker_pids(parent:int) -> dict:
    "LOCAL_RANK -> pid of the workers whose parent is `parent`."
    out = {}
    for p in Path('/proc').iterdir():
        if not p.name.isdigit(): continue
        try:
            ppid = int((p / 'stat').read_text().rsplit(')', 1)[1].split()[1])
            env = (p / 'environ').read_bytes().split(b'\0')
        except (OSError, IndexError, ValueError): continue
        if ppid != parent: continue
        for kv in env:
            if kv.startswith(b'LOCAL_RANK='): out[int(kv.split(b'=')[1])] = int(p.name)
    return out


def test_a_killed_worker_restarts_and_finishes_the_same(tmp_path):
    steps = 60
    assert two(*TRAIN, '--out', 'straight', '--steps', steps, '--ckpt-every', 10, cwd=tmp_path).returncode == 0
    # One restart, the one the kill needs: a restarted group that failed to connect would have none left.
    proc = subprocess.Popen([str(BIN / 'torchrun'), '--standalone', '--nproc-per-node=2', '--max-restarts=1', '-m', 'ddpm_lit',
                             *TRAIN, '--out', 'killed', '--steps', str(steps), '--ckpt-every', '10'],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    log, killed = tmp_path / 'killed' / 'log.csv', None
    try:
        deadline = time.time() + 600
        while killed is None and time.time() < deadline and proc.poll() is None:
            rows = losses(log) if log.exists() else []
            if rows and int(rows[-1][0]) >= 12:                                    # after the first checkpoint (step 10)
                pid = worker_pids(proc.pid).get(1)
                if pid: os.kill(pid, signal.SIGKILL); killed = int(rows[-1][0])
            time.sleep(0.05)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None: proc.kill()
    assert killed is not None and killed < steps, 'the worker was not killed during the run'
    assert proc.returncode == 0, err[-3000:]
    assert out.count(f'step {steps} of {steps}') == 1
    rows, straight = losses(log), losses(tmp_path / 'straight' / 'log.csv')
    assert [int(s) for s, _ in rows] == list(range(1, steps + 1))                  # no step logged twice, none missing
    assert rows == straight                                                           # the same losses as a run never killed
    assert not (tmp_path / 'killed' / '.lock').exists()


def test_a_process_that_stops_answering_is_named_and_the_checkpoint_kept(tmp_path):
    "A worker stopped (SIGSTOP: alive, but in no collective) makes the other time out and name it in one line, not hang."
    proc = subprocess.Popen([str(BIN / 'torchrun'), '--standalone', '--nproc-per-node=2', '-m', 'ddpm_lit', *TRAIN, '--out', 'run',
                             '--steps', '100000', '--ckpt-every', '4', '--dist-timeout', '5'],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(tmp_path / 'err.txt', 'w'), env=ENV)
    ckpt, stopped, named = tmp_path / 'run' / 'checkpoint.pt', None, None
    try:
        deadline = time.time() + 300
        while stopped is None and time.time() < deadline and proc.poll() is None:
            if ckpt.exists() and worker_pids(proc.pid).get(1):
                stopped = worker_pids(proc.pid)[1]; os.kill(stopped, signal.SIGSTOP); at = time.time()
            time.sleep(0.05)
        while stopped and named is None and time.time() < deadline and proc.poll() is None:
            named = next((l for l in (tmp_path / 'err.txt').read_text().splitlines() if 'stopped answering' in l), None)
            time.sleep(0.2)
        waited = time.time() - at if named else None
    finally:
        if stopped: os.kill(stopped, signal.SIGCONT)             # so that torchrun's SIGTERM ends it at once
        try: proc.wait(timeout=120)
        finally:
            if proc.poll() is None: proc.kill()
    assert stopped is not None, 'the worker was not stopped during the run'
    assert named == ('ddpm-lit (rank 0 of 2): error: process 1 of 2 stopped answering: the others waited 5 s for it at a '
                     'collective (--dist-timeout) and stop; the last checkpoint is kept'), (tmp_path / 'err.txt').read_text()[-3000:]
    assert waited < 60 and proc.returncode != 0                               # the timeout, the barrier's few seconds, no hang
    ck = load_checkpoint(ckpt)
    assert ck['step'] % 4 == 0 and ck['world_size'] == 2 and not (tmp_path / 'run' / '.lock').exists()


def test_a_restarted_attempt_joins_under_its_own_prefix(monkeypatch):
    """Under one torchrun that shares its store, the group's keys go under `ddpm_lit/attempt_<restart count>`, so a
    restarted attempt never reads the keys (the Gloo addresses) of the attempt before it; elsewhere torch's env:// is
    left to make the store."""
    import torch.distributed as dist
    from ddpm_lit.training import _attempt_store
    agent = dist.TCPStore('127.0.0.1', 0, 1, is_master=True, wait_for_workers=False)     # what torchrun's agent holds
    env = {'TORCHELASTIC_USE_AGENT_STORE': 'True', 'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(agent.port),
           'WORLD_SIZE': '2', 'LOCAL_WORLD_SIZE': '2'}
    for k, v in env.items(): monkeypatch.setenv(k, v)
    agent.set('default_pg/0//cpu//0/0', 'the address of a process of attempt 0')
    for attempt in ('1', '2'):
        monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', attempt)
        store = _attempt_store()
        assert not store.check(['default_pg/0//cpu//0/0'])                       # the old attempt's key is not seen
        store.set('default_pg/0//cpu//0/0', f'attempt {attempt}')
        assert agent.get(f'ddpm_lit/attempt_{attempt}/default_pg/0//cpu//0/0') == f'attempt {attempt}'.encode()
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '1')                                  # several machines: their counts may differ
    assert _attempt_store() is None
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    monkeypatch.delenv('TORCHELASTIC_USE_AGENT_STORE')                          # not torchrun's shared store
    assert _attempt_store() is None
