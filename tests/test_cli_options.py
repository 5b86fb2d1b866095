"""The command line is made from TrainConfig and explains itself: every option has a help line and its
default, `ddpm-lit` alone prints the help, `--version` works, and every config field is settable."""
import argparse
import dataclasses
import subprocess
import sys
import typing

import pytest

from ddpm_lit import __version__, cli
from ddpm_lit.training import TrainConfig, load_checkpoint

from test_cli_outputs import run, one_error_line, TRAIN


def commands():
    p = cli._parser()
    return p, p._subparsers._group_actions[0].choices


def test_every_option_has_help_and_says_its_default_once():
    "A help line for every option; a value option says its default (or that it is required) exactly once, a switch never."
    p, subs = commands()
    assert set(subs) == {'train', 'sample', 'evaluate', 'fid-stats'}
    for name, q in subs.items():
        for action in q._actions:
            if action.dest == 'help': continue
            shown = q.formatter_class(name)._get_help_string(action)
            assert action.help and action.help.strip() != action.dest.replace('_', ' '), (name, action.dest)
            switch = isinstance(action.default, bool) or action.help.endswith(cli._NO_DEFAULT)
            assert shown.count('default:') + shown.count('(required)') == (0 if switch else 1), (name, action.dest, shown)
        assert '(default: None)' not in q.format_help(), name


def test_train_has_an_option_for_every_config_field_with_its_default():
    _, subs = commands()
    t = subs['train']
    dests = {a.dest: a for a in t._actions}
    for f in dataclasses.fields(TrainConfig):
        assert f.name in dests and dests[f.name].default == f.default, f.name
    assert cli.config_from_args(t.parse_args([])) == TrainConfig()
    flags = {s for a in t._actions for s in a.option_strings}
    assert {'--T', '--schedule', '--sample-n', '--sample-steps', '--config', '--preset', '--progress', '--no-progress'} <= flags


def test_a_new_config_field_needs_no_change_to_the_command_line():
    @dataclasses.dataclass
    class Extended(TrainConfig):
        cond_drop:float = dataclasses.field(default=0.1, metadata={'help': 'probability of dropping the label'})
        conditional:bool = dataclasses.field(default=False, metadata={'help': 'train with class labels'})
        guidance:typing.Literal['none', 'cfg'] = dataclasses.field(default='none', metadata={'help': 'how to guide'})
        width:typing.Optional[int] = dataclasses.field(default=None, metadata={'help': 'a width'})
    p = argparse.ArgumentParser()
    cli.add_config_options(p, Extended)
    cfg = cli.config_from_args(p.parse_args(['--cond-drop', '0.2', '--conditional', '--schedule', 'cosine', '--guidance', 'cfg',
                                             '--width', '3']), Extended)
    assert (cfg.cond_drop, cfg.conditional, cfg.schedule, cfg.guidance, cfg.width) == (0.2, True, 'cosine', 'cfg', 3)
    assert 'probability of dropping the label' in p.format_help()
    with pytest.raises(SystemExit): p.parse_args(['--guidance', 'other'])


def test_no_command_prints_the_help_and_exits_2():
    r = subprocess.run([sys.executable, '-m', 'ddpm_lit'], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout.startswith('usage: ddpm-lit') and 'fid-stats' in r.stdout and not r.stderr


def test_version(tmp_path):
    code, out, err = run('--version', cwd=tmp_path)
    assert code == 0 and out.strip() == f'ddpm-lit {__version__}'


def test_schedule_T_and_sample_grids_from_the_shell(tmp_path):
    code, out, err = run(*TRAIN, '--out', 'run', '--steps', 2, '--T', 30, '--schedule', 'cosine', '--sample-every', 2,
                         '--sample-n', 3, '--sample-steps', 4, cwd=tmp_path)
    assert code == 0, err
    config = load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['config']
    assert (config['T'], config['schedule'], config['sample_n'], config['sample_steps']) == (30, 'cosine', 3, 4)
    # The end of the run says where everything went.
    assert 'checkpoint in run/checkpoint.pt' in out and 'losses in run/log.csv' in out and 'sample grids in run/samples' in out
    assert (tmp_path / 'run' / 'samples' / 'step_0000002.png').is_file()


def test_bad_config_values_are_one_line(tmp_path):
    for args in (['--schedule', 'quadratic'], ['--T', '0'], ['--sample-n', 'x']):
        r = run(*TRAIN, '--out', 'run', *args, cwd=tmp_path)
        assert one_error_line(*r), (args, r)
    assert not (tmp_path / 'run' / 'checkpoint.pt').exists()
