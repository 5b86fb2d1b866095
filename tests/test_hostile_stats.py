"""Hostile statistics files and non-finite samples.

A file of FID statistics is data from outside: published by someone else, written by an earlier run, or
edited by hand. It must be checked before it is believed, because the Frechet distance does not object to
nonsense, it returns a number (a negative-definite "covariance" gave FID 0.00). `read_fid_stats` checks the
file alone, before anything else is loaded, and refuses it with one line naming the file; `stats_features_fit`
checks it against the chosen features by name and dimension only; a claim that the file covers the
reference part is believed only when its recorded fingerprint matches the reference images in use; and
nothing inside the file is ever unpickled. Samples that are not finite stop the evaluation before any score.
"""
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ddpm_lit import evaluation, NoiseSchedule
from ddpm_lit.evaluation import (FeatureError, NonFiniteSamplesError, read_fid_stats, stats_features_fit,
                                 feature_kind_info, reference_claim_holds, save_fid_stats, load_fid_stats)

D = 4
SIGMA = np.cov(np.random.default_rng(0).normal(size=(50, D)), rowvar=False)


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


def refusal(path, **arrays) -> str:
    "The one line that read_fid_stats refuses the file with (arrays written first, when given)."
    if arrays: write(path, **arrays)
    with pytest.raises(FeatureError) as e:
        read_fid_stats(path)
    msg = str(e.value)
    assert '\n' not in msg and str(path) in msg
    return msg


class Trap:
    "Unpickling one creates the file `path`: proof that it was unpickled."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (Path.touch, (self.path,))


class Named:
    "A stand-in for a feature extractor: what save_fid_stats and load_fid_stats read of one."
    def __init__(self, name='digits8x8-classifier-v1', dim=D, fingerprint='abc123'):
        self.name, self.dim, self.fingerprint = name, dim, fingerprint


def test_a_good_file_is_read_as_float64_with_its_record(tmp_path):
    mu, sigma, record = read_fid_stats(write(tmp_path / 'ok.npz', mu=np.ones(D, dtype=np.float32), sigma=SIGMA.astype(np.float32),
                                             features='x', n=50, split='all'))
    assert mu.dtype == sigma.dtype == np.float64 and np.array_equal(mu, np.ones(D))
    assert record == {'features': 'x', 'n': 50, 'split': 'all'} and type(record['n']) is int and type(record['features']) is str


def test_negative_definite_sigma_is_refused(tmp_path):
    assert 'not positive semi-definite' in refusal(tmp_path / 'neg.npz', mu=np.zeros(D), sigma=-np.eye(D))


def test_indefinite_sigma_beyond_the_tolerance_is_refused_and_within_it_accepted(tmp_path):
    w, v = np.linalg.eigh(SIGMA)
    for frac, ok in ((1e-4, False), (1e-9, True)):
        w2 = w.copy(); w2[0] = -frac * w.max()
        path = write(tmp_path / f'{frac}.npz', mu=np.zeros(D), sigma=(v * w2) @ v.T)
        if ok: read_fid_stats(path)
        else: assert 'not positive semi-definite' in refusal(path)


def test_a_singular_float32_covariance_is_accepted(tmp_path):
    "Rounding to float32 pushes zero eigenvalues below zero; the tolerance d * eps of the stored type allows for it."
    few = np.cov(np.random.default_rng(1).normal(size=(10, 64)) * 100, rowvar=False).astype(np.float32)
    read_fid_stats(write(tmp_path / 'f32.npz', mu=np.zeros(64, dtype=np.float32), sigma=few))


def test_asymmetric_sigma_is_refused(tmp_path):
    s = SIGMA.copy(); s[0, 1] += 1e-3 * np.abs(SIGMA).max()
    assert 'not symmetric' in refusal(tmp_path / 'asym.npz', mu=np.zeros(D), sigma=s)


def test_asymmetry_is_relative_to_the_scale(tmp_path):
    "A tiny covariance with a tiny asymmetry is as asymmetric as a large one: an absolute tolerance would pass it."
    s = SIGMA * 1e-9; s[0, 1] += 1e-3 * np.abs(s).max()
    assert 'not symmetric' in refusal(tmp_path / 'small.npz', mu=np.zeros(D), sigma=s)


@pytest.mark.parametrize('which', ['mu', 'sigma'])
def test_complex_arrays_are_refused(tmp_path, which):
    arrays = dict(mu=np.zeros(D), sigma=SIGMA)
    arrays[which] = arrays[which].astype(complex)
    assert f'{which} must hold real numbers' in refusal(tmp_path / 'c.npz', **arrays)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('which', ['mu', 'sigma'])
def test_nan_and_inf_are_refused(tmp_path, which, bad):
    arrays = dict(mu=np.zeros(D), sigma=SIGMA.copy())
    arrays[which].flat[0] = bad
    assert f'1 of the {arrays[which].size} entries of {which} is not finite' in refusal(tmp_path / 'nf.npz', **arrays)


@pytest.mark.parametrize('mu, sigma, says', [
    (np.zeros((1, D)), SIGMA, 'mu must be a vector'),
    (np.zeros(0), np.zeros((0, 0)), 'mu must be a vector of d >= 1'),
    (np.zeros(D), np.eye(D - 1), f'sigma must be a {D} x {D} matrix'),
    (np.zeros(D), np.eye(D)[None], f'sigma must be a {D} x {D} matrix'),
    (np.zeros(D), np.array(1.0), f'sigma must be a {D} x {D} matrix'),
])
def test_wrong_shapes_are_refused(tmp_path, mu, sigma, says):
    assert says in refusal(tmp_path / 'shape.npz', mu=mu, sigma=sigma)


def test_vector_sigma_is_refused(tmp_path):
    assert 'its shape is (4,)' in refusal(tmp_path / 'vec.npz', mu=np.zeros(D), sigma=np.diag(SIGMA).copy())


@pytest.mark.parametrize('arrays, says', [
    (dict(mu=np.zeros(D)), 'it has no sigma'),
    (dict(mu=np.array(['a'] * D), sigma=SIGMA), 'mu must hold real numbers'),
    (dict(mu=np.zeros(D, dtype=bool), sigma=SIGMA), 'mu must hold real numbers'),
])
def test_not_statistics_are_refused(tmp_path, arrays, says):
    assert says in refusal(tmp_path / 'x.npz', **arrays)


def test_a_file_that_is_not_an_npz_is_refused(tmp_path):
    (tmp_path / 'text.npz').write_text('mu, sigma')
    assert 'is not a file of FID statistics' in refusal(tmp_path / 'text.npz')
    np.save(tmp_path / 'bare.npy', np.zeros(D))
    assert 'one bare array' in refusal(tmp_path / 'bare.npy')
    assert 'no such file' in refusal(tmp_path / 'none.npz')


def test_a_truncated_file_is_refused(tmp_path):
    path = write(tmp_path / 't.npz', mu=np.zeros(64), sigma=np.eye(64))
    path.write_bytes(path.read_bytes()[:300])
    refusal(path)


@pytest.mark.parametrize('entry, value, says', [
    ('n', 'many', 'its entry n must be a single integer'),
    ('n', 2.5, 'its entry n must be a single integer'),
    ('n', True, 'its entry n must be a single integer'),
    ('n', np.array([3, 4]), 'its entry n must be a single integer'),
    ('n', 0, 'its entry n must be at least 2'),
    ('n', -5, 'its entry n must be at least 2'),
    ('split', 'floor', "its entry split must be one of all, reference, but it is 'floor'"),
    ('split', 1, 'its entry split must be a single string'),
    ('features', 5, 'its entry features must be a single string'),
    ('features', '', 'its entry features is empty'),
    ('features', 'line\nbreak', 'its entry features must be printable text'),
    ('fingerprint', b'bytes', 'its entry fingerprint must be a single string'),
    ('images_fingerprint', ['a', 'b'], 'its entry images_fingerprint must be a single string'),
    ('data_images', 3, 'its entry data_images (3) is smaller than n (10)'),
])
def test_a_malformed_record_is_an_error_not_a_traceback(tmp_path, entry, value, says):
    arrays = dict(mu=np.zeros(D), sigma=SIGMA, n=10, split='all', features='x')
    arrays[entry] = value
    assert says in refusal(tmp_path / 'rec.npz', **arrays)


def test_an_object_array_inside_the_npz_is_refused_unpickled(tmp_path):
    marker = tmp_path / 'unpickled'
    assert pickle.loads(pickle.dumps(Trap(marker))) is None and marker.exists()      # the trap works when unpickled
    marker.unlink()
    for entry in ('mu', 'split'):
        arrays = dict(mu=np.zeros(D), sigma=SIGMA)
        arrays[entry] = np.array([Trap(marker)] * (D if entry == 'mu' else 1), dtype=object)
        assert f'its entry {entry} is an array of Python objects' in refusal(tmp_path / f'{entry}.npz', **arrays)
    assert not marker.exists()


def test_a_pickle_given_as_the_file_is_refused_unpickled(tmp_path):
    marker = tmp_path / 'unpickled'
    with open(tmp_path / 'p.npz', 'wb') as f: pickle.dump(Trap(marker), f)
    assert 'is not a file of FID statistics' in refusal(tmp_path / 'p.npz')
    assert not marker.exists()


def fit_error(path, data='digits8x8', kind='auto') -> str:
    mu, _, record = read_fid_stats(path)
    with pytest.raises(FeatureError) as e:
        stats_features_fit(path.name, mu, record, *feature_kind_info(data, kind), data=data)
    assert '\n' not in str(e.value)
    return str(e.value)


def test_a_64_dimensional_pytorch_fid_file_is_described_by_its_dimension(tmp_path):
    "pytorch-fid --dims 64 writes Inception's first pooling features: no name, and the classifier's dimension."
    path = write(tmp_path / 'pfid64.npz', mu=np.zeros(64), sigma=np.eye(64))
    msg = fit_error(path)
    assert '64-dimensional features with no name, of unknown origin' in msg and 'no --features value would fit it' in msg
    assert 'inception-v3-compat-2048' not in msg and 'taken as' not in msg and '2048' not in msg
    assert 'no --features value would fit' in fit_error(path, kind='inception')


def test_an_unnamed_file_of_other_dimension_is_of_unknown_origin(tmp_path):
    msg = fit_error(write(tmp_path / 'd192.npz', mu=np.zeros(192), sigma=np.eye(192)))
    assert '192-dimensional features of unknown origin' in msg and 'no --features value would fit' in msg


def test_an_unnamed_2048_file_is_taken_as_inception_and_fits_it_only(tmp_path):
    path = write(tmp_path / 'edm.npz', mu=np.zeros(2048), sigma=np.eye(2048))
    msg = fit_error(path)
    assert 'taken as inception-v3-compat-2048' in msg and '--features inception would fit it' in msg
    mu, _, record = read_fid_stats(path)
    stats_features_fit(path, mu, record, *feature_kind_info('cifar10'), data='cifar10')               # fits: no error


def test_a_named_file_fits_its_features_only(tmp_path):
    path = write(tmp_path / 'd.npz', mu=np.zeros(64), sigma=np.eye(64), features='digits8x8-classifier-v1')
    mu, _, record = read_fid_stats(path)
    stats_features_fit(path, mu, record, *feature_kind_info('digits8x8'), data='digits8x8')
    assert '--features digits would fit it' in fit_error(path, kind='inception')
    assert 'no --features value would fit it for the data digits' in fit_error(path, data='digits')
    short = write(tmp_path / 's.npz', mu=np.zeros(5), sigma=np.eye(5), features='digits8x8-classifier-v1')
    assert 'not the 64 dimensions of digits8x8-classifier-v1' in fit_error(short)


def test_load_fid_stats_checks_the_weights_too(tmp_path):
    save_fid_stats(tmp_path / 'a.npz', np.zeros(D), SIGMA, Named(fingerprint='abc123'), n=10)
    assert load_fid_stats(tmp_path / 'a.npz', Named(fingerprint='abc123'))[2]['fingerprint'] == 'abc123'
    with pytest.raises(FeatureError, match='other weights of digits8x8-classifier-v1'):
        load_fid_stats(tmp_path / 'a.npz', Named(fingerprint='def456'))
    with pytest.raises(FeatureError, match='not positive semi-definite'):           # the file is read with all its checks
        load_fid_stats(write(tmp_path / 'neg.npz', mu=np.zeros(D), sigma=-np.eye(D), features='x'), Named())


def test_save_refuses_what_read_would_refuse(tmp_path):
    for mu, sigma in ((np.zeros(D), -np.eye(D)), (np.full(D, np.nan), SIGMA), (np.zeros(D), np.eye(D - 1))):
        with pytest.raises(ValueError, match='these are not statistics to write'):
            save_fid_stats(tmp_path / 'x.npz', mu, sigma, Named(), n=10)
    with pytest.raises(ValueError, match='split must be one of'): save_fid_stats(tmp_path / 'x.npz', np.zeros(D), SIGMA, Named(), n=10, split='floor')
    with pytest.raises(ValueError, match='n must be an integer of at least 2'): save_fid_stats(tmp_path / 'x.npz', np.zeros(D), SIGMA, Named(), n=1)
    with pytest.raises(ValueError, match='needs the reference images'):
        save_fid_stats(tmp_path / 'x.npz', np.zeros(D), SIGMA, Named(), n=10, split='reference')
    assert not (tmp_path / 'x.npz').exists()


def test_an_exclusive_save_keeps_an_existing_file(tmp_path):
    save_fid_stats(tmp_path / 'x.npz', np.zeros(D), SIGMA, Named(), n=10, exclusive=True)
    before = (tmp_path / 'x.npz').read_bytes()
    with pytest.raises(Exception, match='exists'):
        save_fid_stats(tmp_path / 'x.npz', np.ones(D), SIGMA, Named(), n=10, exclusive=True)
    assert (tmp_path / 'x.npz').read_bytes() == before
    save_fid_stats(tmp_path / 'x.npz', np.ones(D), SIGMA, Named(), n=10)                    # not exclusive: replaced
    assert np.array_equal(read_fid_stats(tmp_path / 'x.npz')[0], np.ones(D))


def test_a_forged_split_claim_is_not_believed(tmp_path):
    images = torch.randint(0, 256, (100, 1, 8, 8), dtype=torch.uint8)
    _, ref_idx, held_idx = evaluation.split_indices(len(images))
    ref = images[ref_idx]
    save_fid_stats(tmp_path / 'ref.npz', np.zeros(D), SIGMA, Named(), n=len(ref), split='reference', images=ref, data_images=100)
    record = read_fid_stats(tmp_path / 'ref.npz')[2]
    assert reference_claim_holds(record, ref) and record['data_images'] == 100
    assert not reference_claim_holds(record, images[held_idx])                     # other images of the same number
    assert not reference_claim_holds(record, torch.nn.functional.pad(ref, (1, 1, 1, 1)))     # the same digits at another size
    assert not reference_claim_holds({**record, 'split': 'all'}, ref)
    assert not reference_claim_holds({**record, 'n': record['n'] + 1}, ref)
    write(tmp_path / 'forged.npz', mu=np.zeros(D), sigma=SIGMA, features='x', n=len(ref), split='reference', images_fingerprint='0' * 20)
    assert not reference_claim_holds(read_fid_stats(tmp_path / 'forged.npz')[2], ref)


def test_a_reference_file_of_the_previous_version_is_not_the_reference_part(tmp_path):
    "Written with split='reference' but no fingerprint: it cannot be checked, so it is not believed."
    images = torch.randint(0, 256, (100, 1, 8, 8), dtype=torch.uint8)
    ref = images[evaluation.split_indices(len(images))[1]]
    record = read_fid_stats(write(tmp_path / 'old.npz', mu=np.zeros(D), sigma=SIGMA, features='x', fingerprint='',
                                  n=len(ref), split='reference'))[2]
    assert record['split'] == 'reference' and not reference_claim_holds(record, ref)


def test_feature_kind_info_agrees_with_the_feature_objects(monkeypatch):
    real = evaluation.feature_extractor('digits8x8', 'digits')                               # the shipped classifier
    assert feature_kind_info('digits8x8', 'digits') == feature_kind_info('digits8x8') == (real.name, real.dim)
    # Inception: the real class, without loading Inception's weights.
    monkeypatch.setattr(evaluation, '_inception_net', lambda weights, device: nn.Identity())
    for data in ('digits', 'digits8x8', 'cifar10'):
        for kind in evaluation.FEATURE_KINDS:
            try: f = evaluation.feature_extractor(data, kind)
            except FeatureError as e:
                with pytest.raises(FeatureError, match=re.escape(str(e))): feature_kind_info(data, kind)
                continue
            assert feature_kind_info(data, kind) == (f.name, f.dim), (data, kind)
    with pytest.raises(FeatureError, match='features must be one of'): feature_kind_info('digits8x8', 'clip')


def test_a_damaged_cache_file_is_computed_anew(tmp_path):
    class Counting:
        name, calls = 'counting', 0
        w = torch.randn(64, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        def __call__(self, images): self.calls += 1; return images.flatten(1).double() @ self.w
    ext, imgs = Counting(), torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    mu, sigma = evaluation.feature_statistics(ext, imgs, cache=tmp_path)
    (path,) = (tmp_path / 'stats').glob('*.npz')
    for damage in (lambda: path.write_bytes(path.read_bytes()[:200]),
                   lambda: np.savez(path, mu=np.full(5, np.nan), sigma=sigma, n=40),
                   lambda: np.savez(path, mu=np.array([Trap(tmp_path / 'unpickled')] * 5, dtype=object), sigma=sigma)):
        damage()
        calls = ext.calls
        mu2, sigma2 = evaluation.feature_statistics(ext, imgs, cache=tmp_path)
        assert ext.calls == calls + 1 and np.array_equal(mu2, mu) and np.array_equal(sigma2, sigma)
        assert np.array_equal(read_fid_stats(path)[0], mu)                          # written whole again
    evaluation.feature_statistics(ext, imgs, cache=tmp_path)
    assert ext.calls == 4 and not (tmp_path / 'unpickled').exists()                 # a sound file is read, not recomputed


SCHEDULE = NoiseSchedule.linear(10)


def test_nan_predictions_raise_before_any_sample_is_returned():
    nan_net = lambda x, t: torch.full_like(x, float('nan'))
    with pytest.raises(NonFiniteSamplesError) as e:
        evaluation.sample_images(nan_net, SCHEDULE, 6, steps=2, batch_size=4, shape=(1, 8, 8))
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and '\n' not in msg
    assert msg.startswith('4 of the first 4 samples (of 6; sampling stopped there) are not finite') and 'diverged' in msg


def test_an_infinite_pixel_is_not_clamped_away():
    "One sample whose prediction is infinite: a clamp to [-1, 1] would make it look like a valid image."
    def one_inf(x, t):
        eps = torch.zeros_like(x); eps[1] = float('inf'); return eps
    with pytest.raises(NonFiniteSamplesError, match='^1 of the 3 samples are not finite'):
        evaluation.sample_images(one_inf, SCHEDULE, 3, steps=2, shape=(1, 8, 8))


class LabelShift(nn.Module):
    "A conditional stand-in: predicts 1 everywhere with a label and 0 without one (the null label)."
    num_classes = 10
    config = {'in_channels': 1, 'image_size': 8}
    def forward(self, x, t, y): return (y < self.num_classes).to(x.dtype).view(-1, 1, 1, 1).expand_as(x).clone()


def test_a_huge_guidance_scale_raises_and_names_the_scale():
    schedule = NoiseSchedule.linear()           # abar_T near 4e-5: the predicted x_0 of a scale of 1e38 overflows float32
    ok = evaluation.sample_images(LabelShift(), schedule, 4, steps=2, y=3, guidance=2.0)
    assert torch.isfinite(ok).all()
    with pytest.raises(NonFiniteSamplesError, match=r'the guidance scale w = 1e\+38 is probably too large'):
        evaluation.sample_images(LabelShift(), schedule, 4, steps=2, y=3, guidance=1e38)


def test_evaluate_model_raises_before_computing_any_fid():
    class NaNNet(nn.Module):
        config = {'in_channels': 1, 'image_size': 8}
        def forward(self, x, t): return torch.full_like(x, float('nan'))
    class Counting:
        name, calls = 'counting', 0
        def __call__(self, images): self.calls += 1; return images.flatten(1).double()[:, :3]
    feats, images = Counting(), torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8)
    with pytest.raises(NonFiniteSamplesError):
        evaluation.evaluate_model(NaNNet(), SCHEDULE, images, features=feats, reference=(np.zeros(3), np.eye(3)), n=5, steps=2, cache=False)
    assert feats.calls == 0                                                         # no features of the samples, no FID
