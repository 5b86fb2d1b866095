"""The trainer and the checkpoint module as a library: a full disk during a checkpoint write, the resume rule, every
numeric setting checked, the settings' help for the command line, the shared checkpoint loader, and a signal that
stops the run even where its exception is swallowed."""
import dataclasses
import errno
import math
import signal

import pytest
import torch

from ddpm_lit import checkpoint
from ddpm_lit.checkpoint import DiskFullError, load_checkpoint, load_model
from ddpm_lit.training import ConfigError, TrainConfig, Trainer, config_help, train, CHOICES


def cfg(out, **kw):
    return TrainConfig(**{**dict(data='digits8x8', out=str(out), preset='digits8x8', steps=2, batch_size=8, warmup=2,
                                 ckpt_every=2, sample_every=0, log_every=1, progress=False), **kw})


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    train(cfg(tmp_path / 'run'))
    before = (tmp_path / 'run' / 'checkpoint.pt').read_bytes()
    def half_then_full(obj, f, *a, **k):
        f.write(b'x' * 100)
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(checkpoint.torch, 'save', half_then_full)
    with pytest.raises(DiskFullError, match='the disk is full: could not write .*checkpoint.pt; its previous version is kept whole'):
        train(cfg(tmp_path / 'run', steps=4))
    monkeypatch.undo()
    assert (tmp_path / 'run' / 'checkpoint.pt').read_bytes() == before
    assert load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['step'] == 2
    assert not list((tmp_path / 'run').glob('.checkpoint.pt.ddpm_lit-tmp-*')) and not (tmp_path / 'run' / '.lock').exists()


def test_resume_applies_a_new_lr_and_refuses_a_new_batch_size(tmp_path):
    train(cfg(tmp_path / 'run', lr=1e-3))
    t = Trainer(cfg(tmp_path / 'run', steps=4, lr=3e-4)); t.run()
    assert all(g['lr'] == pytest.approx(3e-4) for g in t.state.opt.param_groups)
    saved = load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')
    assert saved['config']['lr'] == 3e-4 and saved['optimizer']['param_groups'][0]['lr'] == pytest.approx(3e-4)
    with pytest.raises(ConfigError, match=r"batch_size = 8, not 16.*use a new output folder to start afresh"):
        train(cfg(tmp_path / 'run', steps=6, batch_size=16))
    assert load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['step'] == 4


@pytest.mark.parametrize('name, value', [('grad_clip', -1.0), ('grad_clip', 0.0), ('lr', math.nan), ('lr', 0.0),
                                         ('ema_decay', 1.0), ('warmup', -5), ('T', 1), ('cond_drop', 1.0),
                                         ('sample_steps', 1001), ('batch_size', 0), ('log_every', 0), ('ckpt_every', 0)])
def test_each_numeric_setting_is_checked(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f'^{name} must be .*, got {value!r}$'):
        train(cfg(tmp_path / 'run', **{name: value}))
    assert not (tmp_path / 'run').exists()


def test_config_help_has_a_line_and_choices_for_every_setting():
    h = config_help()
    assert list(h) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert all(isinstance(line, str) and line for line, _ in h.values())
    assert {k for k, (_, c) in h.items() if c} == set(CHOICES) and h['precision'][1] == ('auto', 'fp32', 'bf16')


def test_load_model_matches_the_checkpoint(tmp_path):
    train(cfg(tmp_path / 'run'))
    net, schedule, ckpt = load_model(tmp_path / 'run' / 'checkpoint.pt')
    ema = {k[len('module.'):]: v for k, v in ckpt['ema'].items() if k.startswith('module.')}
    assert all(torch.equal(v, ema[k]) for k, v in net.state_dict().items())
    assert schedule.T == ckpt['config']['T'] and not net.training


@pytest.mark.parametrize('broken', ['network', 'update'])
def test_a_step_that_cannot_compile_warns_once_and_trains_eagerly(tmp_path, monkeypatch, capsys, broken):
    "Whichever compiled part fails on the first step, the network or the update after backward: one warning line, then eager steps on the state as it was built."
    from ddpm_lit import training
    def compile_(fn, **kw):
        if (fn is training.update_step) != (broken == 'update'): return fn          # the other part runs as it is
        def fails(*a, **k): raise RuntimeError('no backend here\nsecond line')
        return fails
    monkeypatch.setattr(training.torch, 'compile', compile_)
    t = Trainer(cfg(tmp_path / 'run', compile='yes', preset='tiny'))
    summary = t.run()
    err = capsys.readouterr().err
    assert err.count('warning:') == 1 and 'warning: torch.compile failed (RuntimeError: no backend here); training eagerly' in err
    assert summary['compiled'] is False and summary['step'] == 2 and math.isfinite(summary['loss'])
    s = t.state
    assert s.update is None and s.model is s.net and type(s.opt.param_groups[0]['lr']) is float
    assert s.ema.n_averaged.device.type == 'cpu' and s.ema.n_averaged.item() == 2
    assert all(st['step'].item() == 2 for st in s.opt.state.values())            # two eager steps, none half-made
    assert load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['step'] == 2


def test_a_signal_whose_exception_is_swallowed_still_stops_the_run(tmp_path, monkeypatch):
    "Code that swallows the KeyboardInterrupt of a SIGINT (as C code that clears errors can) does not lose the signal: the run stops at the end of that step."
    from ddpm_lit import training
    real, calls = training.train_step, []
    def swallowing(state, x, y=None):
        calls.append(x.shape[0])
        if len(calls) == 3:
            try: signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt: pass                  # swallowed
        return real(state, x, y)
    monkeypatch.setattr(training, 'train_step', swallowing)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(training.Interrupted, match=r'interrupted at step 3; .*checkpoint.pt holds step 2, and the same command resumes'):
        train(cfg(tmp_path / 'run', steps=50))
    assert len(calls) == 3 and signal.getsignal(signal.SIGINT) == before                           # the handler is given back
