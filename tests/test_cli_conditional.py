"""Conditional generation from the shell: `sample --label/--guidance`, the grid with one row per class, `evaluate
--guidance W [W ...]`, and every bad input as one `ddpm-lit: error:` line, exit status 2 and nothing on disk changed."""
import re

import pytest
import torch
from PIL import Image

from ddpm_lit import cli
from ddpm_lit.data import load_labels
from ddpm_lit.evaluation import split_indices
from ddpm_lit.training import TrainConfig, grid_scale, train
from test_cli_outputs import one_error_line, run, tree_hash


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A folder with two-step checkpoints of the tiny U-Net (T = 20), one conditional on the 8x8 digits' labels, one not."
    folder = tmp_path_factory.mktemp('cond')
    for name, conditional in (('cond', True), ('plain', False)):
        train(TrainConfig(data='digits8x8', out=str(folder / name), preset='tiny', steps=2, batch_size=8, warmup=1, T=20,
                          sample_steps=5, conditional=conditional, sample_every=0, log_every=1, device='cpu', progress=False))
    return folder


@pytest.fixture
def no_sampling(monkeypatch):
    "Make any sampling fail the test: the checks must come first."
    def refuse(*args, **kwargs): raise AssertionError('sampling started before the settings were checked')
    monkeypatch.setattr(cli, 'sample_images', refuse)


def test_sample_without_label_draws_one_row_per_class(runs, monkeypatch):
    seen = {}
    real = cli.sample_images
    def spy(*args, **kwargs):
        seen.update(kwargs); return real(*args, **kwargs)
    monkeypatch.setattr(cli, 'sample_images', spy)
    code, out, err = run('sample', '--ckpt', 'cond/checkpoint.pt', '--steps', 2, '--out', 'grid.png', '--device', 'cpu', cwd=runs)
    assert code == 0, err
    assert 'wrote 80 samples' in out and '8 of each of the 10 classes, one row each, guidance w = 0' in out
    assert torch.equal(seen['y'], torch.arange(10).repeat_interleave(8)) and seen['guidance'] == 0
    # 8 images per row (the 8x8 digits padded to the tiny preset's size), 10 rows, with a 2-pixel border
    s = torch.load(runs / 'cond' / 'checkpoint.pt', weights_only=True)['config']['model']['image_size']
    w, h = 8 * (s + 2) + 2, 10 * (s + 2) + 2
    k = grid_scale(w)                                       # enlarged to be seen: at least 256 pixels wide
    assert k > 1 and Image.open(runs / 'grid.png').size == (k * w, k * h)
    code, out, err = run('sample', '--ckpt', 'cond/checkpoint.pt', '--steps', 2, '--n', 25, '--out', 'grid2.png', '--device', 'cpu', cwd=runs)
    assert code == 0 and 'wrote 20 samples' in out and '2 of each of the 10 classes' in out, err


def test_sample_one_label_with_guidance(runs, monkeypatch):
    seen = {}
    real = cli.sample_images
    def spy(*args, **kwargs):
        seen.update(kwargs); return real(*args, **kwargs)
    monkeypatch.setattr(cli, 'sample_images', spy)
    code, out, err = run('sample', '--ckpt', 'cond/checkpoint.pt', '--steps', 2, '--n', 4, '--label', 3, '--guidance', 2.5,
                         '--out', 'three.png', '--device', 'cpu', cwd=runs)
    assert code == 0, err
    assert 'wrote 4 samples' in out and 'class 3, guidance w = 2.5' in out
    assert seen['y'] == 3 and seen['guidance'] == 2.5


def test_evaluate_prints_one_line_per_scale(runs, digits_cache):
    code, out, err = run('evaluate', '--ckpt', 'cond/checkpoint.pt', '--fid', '--bpd', '--bpd-n', 2, '--n', 12, '--steps', 2,
                         '--guidance', 0, 1.5, '--cache', digits_cache, '--device', 'cpu', cwd=runs)
    assert code == 0, err
    lines = [l for l in out.splitlines() if l.startswith('guidance w = ')]
    assert [l.split(':')[0] for l in lines] == ['guidance w = 0', 'guidance w = 1.5']
    classes = len(set(load_labels('digits8x8')[split_indices(1797)[2][:12]].tolist()))    # those of the first 12 held-out digits
    for l in lines:                                   # FID, the overall accuracy and one accuracy per class asked for
        assert re.search(rf'FID [\d.]+, class accuracy [\d.]+% \((\d \d+%, ){{{classes - 1}}}\d \d+%\)$', l), l
    assert 'labelled as the held-out images' in out and 'FID floor' in out and 'the unconditional branch (no label)' in out


def test_evaluate_of_an_unconditional_model_is_unchanged(runs, digits_cache):
    code, out, err = run('evaluate', '--ckpt', 'plain/checkpoint.pt', '--fid', '--n', 12, '--steps', 2, '--cache', digits_cache,
                         '--device', 'cpu', cwd=runs)
    assert code == 0 and re.match(r'FID [\d.]+: 12 samples', out.splitlines()[1]) and 'guidance' not in out, out + err


BAD = {
    'label above the classes': (('sample', '--ckpt', 'cond/checkpoint.pt', '--label', 10, '--out', 'x.png'),
                                '--label must be one of the 10 classes of this model, 0 to 9, got 10'),
    'negative label': (('sample', '--ckpt', 'cond/checkpoint.pt', '--label', -1, '--out', 'x.png'),
                       '--label must be one of the 10 classes of this model, 0 to 9, got -1'),
    'label not a number': (('sample', '--ckpt', 'cond/checkpoint.pt', '--label', 'three', '--out', 'x.png'),
                           "argument --label: invalid int value: 'three'"),
    'negative guidance': (('sample', '--ckpt', 'cond/checkpoint.pt', '--guidance', -1, '--out', 'x.png'),
                          'argument --guidance: must be a finite number >= 0, got -1'),
    'infinite guidance': (('evaluate', '--ckpt', 'cond/checkpoint.pt', '--fid', '--guidance', 0, 'inf'),
                          'argument --guidance: must be a finite number >= 0, got inf'),
    'nan guidance': (('sample', '--ckpt', 'cond/checkpoint.pt', '--guidance', 'nan', '--out', 'x.png'),
                     'argument --guidance: must be a finite number >= 0, got nan'),
    'fewer samples than classes': (('sample', '--ckpt', 'cond/checkpoint.pt', '--n', 5, '--out', 'x.png'),
                                   '--num-samples 5 is fewer than the 10 classes of one row each; give --label for one class'),
    'label on an unconditional model': (('sample', '--ckpt', 'plain/checkpoint.pt', '--label', 1, '--out', 'x.png'),
                                        'plain/checkpoint.pt holds an unconditional model (trained without --conditional); --label needs a conditional one'),
    'guidance on an unconditional model': (('sample', '--ckpt', 'plain/checkpoint.pt', '--label', 1, '--guidance', 1, '--out', 'x.png'),
                                           '--label and --guidance need a conditional one'),
    'evaluate guidance, unconditional': (('evaluate', '--ckpt', 'plain/checkpoint.pt', '--fid', '--guidance', 1),
                                         '--guidance needs a conditional one'),
    'evaluate guidance without fid': (('evaluate', '--ckpt', 'cond/checkpoint.pt', '--bpd', '--guidance', 1),
                                      '--guidance sets the scales of the FID samples; give --fid as well'),
    'evaluate on other data (more classes)': (('evaluate', '--ckpt', 'cond/checkpoint.pt', '--fid', '--data', 'twelve'),
                                              'the data at twelve is not the data this model was trained on'),
    'conditional on unlabelled data': (('train', '--data', 'flat', '--config', 'tiny', '--conditional', '--out', 'new', '--steps', 2,
                                        '--device', 'cpu'), 'conditional training needs labelled data;'),
    'cond-drop of 1': (('train', '--data', 'digits8x8', '--config', 'tiny', '--conditional', '--cond-drop', 1, '--out', 'new',
                        '--steps', 2, '--device', 'cpu'), 'cond_drop must be'),
}


@pytest.mark.parametrize('case', BAD)
def test_bad_input_is_one_line_and_changes_nothing(runs, no_sampling, case):
    if not (runs / 'flat').exists():                  # images without labels, and images of 12 classes (one subfolder each)
        (runs / 'flat').mkdir()
        for i in range(10): Image.new('L', (8, 8), 20 * i).save(runs / 'flat' / f'{i}.png')
        for k in range(12):
            (runs / 'twelve' / f'c{k:02d}').mkdir(parents=True)
            Image.new('L', (8, 8), 20 * k).save(runs / 'twelve' / f'c{k:02d}' / 'a.png')
    args, message = BAD[case]
    before = tree_hash(runs)
    code, out, err = run(*args, cwd=runs)
    assert one_error_line(code, out, err) and message in err, (code, out, err)
    assert tree_hash(runs) == before and not (runs / 'x.png').exists() and not (runs / 'new').exists()
