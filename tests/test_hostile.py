"""The threat model of the command line, case by case.

A user, or a file a user was given, may be hostile or simply wrong. Four promises hold:

1. Reading never runs code: checkpoints load with `weights_only`, and data files through loaders that admit only
   their format's types (tests/test_hostile_data.py).
2. No file the program did not write is changed or deleted, even when one appears while a command runs; the
   trainer's own leftovers (temporary files, log rows after a kill) are recognised by name and cleaned up.
3. One run holds an output folder at a time, whatever dies when.
4. Bad input is one `ddpm-lit: error:` line and a non-zero exit status, never a traceback, and files that claim
   something are checked before they are believed (statistics files: tests/test_hostile_stats.py).
"""
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from ddpm_lit import cli
from ddpm_lit.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from ddpm_lit.data import load_images
from ddpm_lit.training import ConfigError, TrainConfig, acquire_lock, release_lock, train
from test_cli_outputs import no_sampling, one_error_line, run, tree_hash  # noqa: F401 (a fixture)

TINY = dict(data='digits8x8', preset='tiny', batch_size=8, warmup=1, T=20, sample_every=0, log_every=1, device='cpu',
            progress=False)


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "A folder with a two-step unconditional and a two-step conditional tiny checkpoint, T = 20 (shared by the tests)."
    folder = tmp_path_factory.mktemp('hostile')
    train(TrainConfig(out=str(folder / 'run'), steps=2, **TINY))
    train(TrainConfig(out=str(folder / 'cond'), steps=2, conditional=True, **TINY))
    return folder


# 2. Files the program did not write ---------------------------------------------------------------------------------

def test_an_output_that_appears_while_sampling_is_kept(work, monkeypatch):
    "The race: `sample` checked that its outputs were free, and a checkpoint appeared at one of them while it sampled."
    real = cli.sample_images
    target = work / 'race.pt'

    def sample_while_a_checkpoint_appears(*args, **kwargs):
        x = real(*args, **kwargs)
        save_checkpoint({'step': 1}, target)                  # what a `train` writing in the same folder would do
        return x
    monkeypatch.setattr(cli, 'sample_images', sample_while_a_checkpoint_appears)
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'race.png', '--save-tensors', '--n', 2, '--steps', 2,
            '--device', 'cpu', cwd=work)
    assert r[0] == 2 and 'ddpm-lit: error: ' in r[2] and 'race.pt exists' in r[2] and len(r[2].strip().splitlines()) == 1, r
    assert load_checkpoint(target)['format'] == CHECKPOINT_FORMAT    # the checkpoint is whole, not the samples
    for p in (target, work / 'race.png'): p.unlink(missing_ok=True)


def test_train_refuses_a_folder_with_files_it_did_not_write(tmp_path):
    out = tmp_path / 'mine'
    (out / 'samples').mkdir(parents=True)
    (out / 'samples' / 'step_0000002.png').write_bytes(b'my picture')
    (out / 'log.csv').write_text('my,own,log\n')
    before = tree_hash(out)
    r = run('train', '--data', 'digits8x8', '--config', 'tiny', '--out', 'mine', '--steps', 2, '--batch-size', 8, '--T', 20,
            '--no-progress', '--device', 'cpu', cwd=tmp_path)
    assert one_error_line(*r) and 'no training run wrote there' in r[2], r
    assert tree_hash(out) == before


def test_train_leaves_other_files_in_its_folder_alone(tmp_path):
    "Files beside the run's own, including one named like an old-style temporary of a dead process, are never touched."
    out = tmp_path / 'run'
    out.mkdir()
    gone = subprocess.Popen([sys.executable, '-c', 'pass']); gone.wait()
    (out / f'.notes.tmp-{gone.pid}').write_text('a note')
    (out / 'README.txt').write_text('my notes')
    before = tree_hash(out)
    train(TrainConfig(out=str(out), steps=2, **TINY))
    after = tree_hash(out)
    assert {k: after[k] for k in before} == before
    assert {'checkpoint.pt', 'log.csv', '.ddpm_lit-run'} <= set(after)


def test_a_resume_after_kill_logs_each_step_once(tmp_path):
    "A run killed after logging steps its last checkpoint does not hold: the resumed run drops those rows and logs them anew."
    out = tmp_path / 'run'
    train(TrainConfig(out=str(out), steps=4, ckpt_every=2, **TINY))
    ck = load_checkpoint(out / 'checkpoint.pt')
    ck['step'] = 2                                           # as if killed after logging steps 3 and 4, before their checkpoint
    save_checkpoint({k: v for k, v in ck.items() if k != 'format'}, out / 'checkpoint.pt')
    train(TrainConfig(out=str(out), steps=5, ckpt_every=2, **TINY))
    steps = [int(line.split(',')[0]) for line in (out / 'log.csv').read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4, 5], steps


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    gone = subprocess.Popen([sys.executable, '-c', 'pass']); gone.wait()
    stale = tmp_path / f'.ref.npz.ddpm_lit-tmp-{gone.pid}'
    stale.write_bytes(b'half of a statistics file')
    r = run('fid-stats', '--data', 'digits8x8', '--out', 'ref.npz', '--features', 'digits',
            '--device', 'cpu', cwd=tmp_path)
    assert r[0] == 0, r
    assert not stale.exists() and (tmp_path / 'ref.npz').is_file()


# 3. One lock holder -------------------------------------------------------------------------------------------------

def _contend(path, start, done, results):
    start.wait()
    try: acquire_lock(path); results.put('got')
    except ConfigError: results.put('refused')
    done.wait()                                              # every holder keeps its lock until all have tried


def test_many_processes_taking_one_lock_at_once_give_one_holder(tmp_path):
    ctx = multiprocessing.get_context('fork')
    for trial in range(10):
        path = tmp_path / f'lock{trial}'
        path.write_text('999999 somewhere-else\n')          # a stale note, as a killed run leaves
        start, done, results = ctx.Barrier(8), ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_contend, args=(path, start, done, results)) for _ in range(8)]
        for p in procs: p.start()
        outcomes = sorted(results.get(timeout=60) for _ in procs)
        done.set()
        for p in procs: p.join(timeout=60)
        assert outcomes == ['got'] + ['refused'] * 7, (trial, outcomes)


def test_a_held_lock_is_refused_naming_the_lock_file_and_a_dead_holder_releases_it(tmp_path):
    lock = tmp_path / '.lock'
    hold = f"from ddpm_lit.training import acquire_lock; acquire_lock({str(lock)!r}); print('locked', flush=True); import time; time.sleep(60)"
    holder = subprocess.Popen([sys.executable, '-c', hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(ConfigError, match=f'PID {holder.pid} on .*holds the lock on {lock}'):
            acquire_lock(lock)
    finally:
        holder.kill(); holder.wait()
    acquire_lock(lock)                                       # the kernel released the dead holder's lock
    release_lock(lock)
    assert not lock.exists()


@pytest.mark.parametrize('note', [b'', b'\x00\xffgarbage', f'{os.getppid()} elsewhere\n'.encode()])
def test_a_lock_file_without_a_live_holder_is_taken(tmp_path, note):
    "An empty or garbled lock file, or one naming a live process that holds no lock (a reused PID), locks nothing."
    lock = tmp_path / '.lock'
    lock.write_bytes(note)
    acquire_lock(lock)
    assert lock.read_text().split()[0] == str(os.getpid())
    release_lock(lock)


# 4. One line, not a traceback ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', [str(2**64), str(2**63), '-1', 'x'])
def test_seeds_are_checked_at_parse_time(work, seed, no_sampling):
    for command in (['train', '--data', 'digits8x8', '--out', 'never'], ['sample', '--ckpt', 'run/checkpoint.pt', '--out', 'never.png'],
                    ['evaluate', '--ckpt', 'run/checkpoint.pt', '--bpd']):
        r = run(*command, '--seed', seed, cwd=work)
        assert one_error_line(*r) and 'argument --seed: must be a whole number from 0 to 2**63 - 1' in r[2], r
    assert not (work / 'never').exists() and not (work / 'never.png').exists()


def test_an_unwritable_output_folder_is_one_line(work, monkeypatch, no_sampling):
    monkeypatch.setattr(cli.os, 'access', lambda path, mode: False)
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'x.png', cwd=work)
    assert one_error_line(*r) and 'cannot write in the folder' in r[2], r
    r = run('fid-stats', '--data', 'digits8x8', '--out', 'x.npz', cwd=work)
    assert one_error_line(*r) and 'cannot write in the folder' in r[2], r


def test_a_write_the_system_refuses_is_one_line(work, monkeypatch):
    "A folder that passes the check but refuses the write (a read-only file system, a changed permission)."
    def refuse(images, path, *args, **kwargs): raise PermissionError(13, 'Permission denied', str(path))
    monkeypatch.setattr(cli, '_write_image', refuse)
    r = run('sample', '--ckpt', 'run/checkpoint.pt', '--out', 'refused.png', '--n', 2, '--steps', 2, '--device', 'cpu', cwd=work)
    assert one_error_line(*r) and 'cannot use refused.png: Permission denied' in r[2], r


def test_an_unusable_cache_folder_is_one_line_before_any_work(work, no_sampling):
    (work / 'afile').write_text('')
    r = run('evaluate', '--ckpt', 'run/checkpoint.pt', '--fid', '--cache', 'afile/cache', cwd=work)
    assert one_error_line(*r) and 'cannot use the cache folder' in r[2], r


def test_an_absurd_guidance_scale_is_an_error_and_writes_nothing(work):
    r = run('sample', '--ckpt', 'cond/checkpoint.pt', '--label', 1, '--guidance', '1e308', '--n', 2, '--steps', 2,
            '--out', 'nan.png', '--save-tensors', '--device', 'cpu', cwd=work)
    lines = r[2].strip().splitlines()
    assert r[0] == 1 and len(lines) == 1 and lines[0].startswith('ddpm-lit: error: ') and 'not finite' in lines[0], r
    assert not (work / 'nan.png').exists() and not (work / 'nan.pt').exists()


def test_evaluate_refuses_data_other_than_the_training_data(tmp_path):
    for name, images in (('pngs', load_images('digits8x8')[:40]), ('other', load_images('digits8x8')[40:80])):
        (tmp_path / name).mkdir()
        for i, img in enumerate(images): Image.fromarray(img[0].numpy()).save(tmp_path / name / f'{i:03d}.png')
    train(TrainConfig(**{**TINY, 'data': str(tmp_path / 'pngs'), 'out': str(tmp_path / 'run'), 'steps': 1}))
    r = run('evaluate', '--ckpt', 'run/checkpoint.pt', '--bpd', '--bpd-n', 1, '--data', 'other', '--device', 'cpu', cwd=tmp_path)
    assert one_error_line(*r) and 'is not the data this model was trained on' in r[2], r
    r = run('evaluate', '--ckpt', 'run/checkpoint.pt', '--bpd', '--bpd-n', 1, '--data', 'pngs', '--device', 'cpu', cwd=tmp_path)
    assert r[0] == 0, r


def test_settings_that_used_to_be_refused_for_no_reason(tmp_path):
    "--T 20 with the default grid steps, and --flip no on resuming a run whose flip 'auto' meant no."
    out = tmp_path / 'run'
    train(TrainConfig(**{**TINY, 'out': str(out), 'steps': 1, 'sample_every': 1, 'sample_n': 2}))
    assert load_checkpoint(out / 'checkpoint.pt')['config']['sample_steps'] == 20 and (out / 'samples').is_dir()
    assert train(TrainConfig(**{**TINY, 'out': str(out), 'steps': 2, 'flip': 'no'}))['step'] == 2
    with pytest.raises(ConfigError, match="flip = 'no', not 'yes'"):
        train(TrainConfig(**{**TINY, 'out': str(out), 'steps': 3, 'flip': 'yes'}))


@pytest.mark.parametrize('after_checkpoint', [False, True])
def test_sigterm_says_which_checkpoint_is_kept(tmp_path, after_checkpoint):
    args = ['train', '--data', 'digits8x8', '--config', 'tiny', '--batch-size', '8', '--T', '20', '--steps', '100000',
            '--log-every', '1', '--ckpt-every', '1' if after_checkpoint else '100000', '--sample-every', '0',
            '--progress', '--device', 'cpu', '--out', 'run']
    p = subprocess.Popen([sys.executable, '-m', 'ddpm_lit', *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'})
    lines = []
    for line in p.stderr:                                    # wait for two logged steps
        lines.append(line)
        if sum(l.startswith('train: step') for l in lines) >= 2: break
    p.send_signal(signal.SIGTERM)
    rest = p.stderr.read()
    assert p.wait(timeout=60) == 130
    last = rest.strip().splitlines()[-1]
    if after_checkpoint:
        step = load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['step']
        assert f'checkpoint.pt holds step {step}, and the same command resumes from there' in last, rest
    else:
        assert 'before the first checkpoint (every 100000 steps): nothing was saved' in last, rest
        assert not (tmp_path / 'run' / 'checkpoint.pt').exists()
