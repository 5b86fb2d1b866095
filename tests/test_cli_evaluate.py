"""`ddpm-lit evaluate` and `fid-stats`: data found from any folder and after it moves, reference statistics
in the published format that give the same FID as the statistics computed in memory, and the protocol
as library calls."""
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_lit import evaluation, load_images, NoiseSchedule, UNet, prepare
from ddpm_lit.training import load_checkpoint

from test_cli_outputs import run, one_error_line, tree_hash, TRAIN


@pytest.fixture(scope='module')
def cache(digits_cache):
    return digits_cache


@pytest.fixture(scope='module')
def digits_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp('eval')
    code, out, err = run(*TRAIN, '--out', 'run', '--steps', 2, '--T', 20, '--sample-steps', 5, cwd=folder)
    assert code == 0, err
    return folder


def fid_numbers(text):
    return re.findall(r'^(FID(?: floor)? [\d.]+)', text, flags=re.M)


def test_evaluate_finds_relative_data_from_another_folder_and_after_a_move(tmp_path):
    (tmp_path / 'pngs').mkdir()
    for i, img in enumerate(load_images('digits8x8')[:30]):
        Image.fromarray(img[0].numpy()).save(tmp_path / 'pngs' / f'{i:02d}.png')
    code, out, err = run(*TRAIN, '--data', 'pngs', '--out', 'run', '--steps', 1, '--T', 10, '--sample-steps', 5, cwd=tmp_path)
    assert code == 0, err
    assert load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')['config']['data'] == str((tmp_path / 'pngs').resolve())
    (tmp_path / 'other').mkdir()
    bound = ('evaluate', '--ckpt', '../run/checkpoint.pt', '--bpd', '--bpd-n', 2, '--device', 'cpu')
    code, out, err = run(*bound, cwd=tmp_path / 'other')
    assert code == 0 and 'NLL bound' in out, err
    shutil.move(tmp_path / 'pngs', tmp_path / 'moved')
    r = run(*bound, cwd=tmp_path / 'other')
    assert one_error_line(*r) and '--data' in r[2], r
    code, out, err = run(*bound, '--data', '../moved', cwd=tmp_path / 'other')
    assert code == 0 and 'NLL bound' in out, err


def test_a_statistics_file_gives_the_in_memory_fid(digits_run, cache):
    ev = ('evaluate', '--ckpt', 'run/checkpoint.pt', '--fid', '--n', 12, '--steps', 3, '--cache', cache, '--device', 'cpu')
    code, out, err = run(*ev, cwd=digits_run)
    assert code == 0, err
    in_memory = fid_numbers(out)
    assert len(in_memory) == 2
    code, out, err = run('fid-stats', '--data', 'digits8x8', '--split', 'reference', '--image-size', 28, '--out', 'ref.npz',
                         '--device', 'cpu', cwd=digits_run)
    assert code == 0, err
    with np.load(digits_run / 'ref.npz') as z:
        assert {'mu', 'sigma'} <= set(z.files) and z['mu'].shape == (64,) and z['sigma'].shape == (64, 64)
        assert z['features'].item() == 'digits8x8-classifier-v1' and z['split'].item() == 'reference'
    code, out, err = run(*ev, '--ref-stats', 'ref.npz', cwd=digits_run)
    assert code == 0, err
    assert fid_numbers(out) == in_memory
    # Statistics of all the images are the published convention; the floor is then not measured.
    code, out, err = run('fid-stats', '--data', 'digits8x8', '--out', 'all.npz', '--device', 'cpu', cwd=digits_run)
    assert code == 0, err
    code, out, err = run(*ev, '--ref-stats', 'all.npz', cwd=digits_run)
    assert code == 0 and 'FID floor: not measured' in out, err


def test_statistics_of_other_features_are_refused(digits_run, cache):
    np.savez(digits_run / 'published.npz', mu=np.zeros(2048), sigma=np.eye(2048))      # pytorch-fid's layout: Inception
    before = tree_hash(digits_run)
    r = run('evaluate', '--ckpt', 'run/checkpoint.pt', '--fid', '--ref-stats', 'published.npz', '--cache', cache,
            '--device', 'cpu', cwd=digits_run)
    assert one_error_line(*r) and 'inception-v3-compat-2048' in r[2], r
    assert tree_hash(digits_run) == before


def test_library_protocol_defaults_and_checks(cache):
    class Fake:
        "A feature extractor with a published sample count, like Inception's 50,000."
        name, standard_samples, dim = 'fake', 24, 5
        w = torch.randn(28 * 28, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        def __call__(self, images): return evaluation._as_model_range(images).flatten(1).double() @ self.w
    net, schedule = UNet.tiny().eval(), NoiseSchedule.linear(10)
    images = prepare(load_images('digits8x8')[:100], 28, 1)
    r = evaluation.evaluate_model(net, schedule, images, features=Fake(), steps=2, cache=False)
    assert r['fid_samples'] == 24 and r['fid_standard_samples'] == 24 and r['fid_floor'] is None   # 24 > 20 held-out
    assert evaluation.InceptionFeatures.standard_samples == 50_000
    with pytest.raises(ValueError, match='eta must be a finite number from 0 to 1'):
        evaluation.sample_images(net, schedule, 2, eta=float('nan'))
    a = evaluation.sample_images(net, schedule, 5, steps=2, batch_size=2, seed=3)
    b = evaluation.sample_images(net, schedule, 5, steps=2, batch_size=2, seed=3)
    assert a.shape == (5, 1, 28, 28) and a.dtype == torch.float32 and torch.equal(a, b)
