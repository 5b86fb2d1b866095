"""The digits classifiers that ship in ddpm_lit/weights/ are what `train_digits_classifier` makes (tools/train_digits_classifiers.py).

Training one again in full takes one to four CPU-minutes, so each file is checked as the book's shipped runs are: its
held-out accuracy is measured again, and the recipe's first 50 steps, on the threads the file was trained with, must
log the losses the file keeps, to a relative 1e-5: the machine that trained the file logs them bit for bit, and another
CPU's vector instructions may round float32 sums differently (up to 3.4e-7 seen), while another seed moves each of the
first losses by more than 6e-4."""
import math

import pytest
import torch

from ddpm_lit.data import to_model_range
from ddpm_lit.evaluation import (DIGITS_SETS, DigitsFeatures, FeatureError, digits_classifier, digits_classifier_path,
                                 digits_split, save_digits_classifier, train_digits_classifier)

STEPS = 50


@pytest.fixture
def threads():
    "Restores torch's thread count after a test that sets it."
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize('name', DIGITS_SETS)
def test_the_shipped_classifier_reads_the_held_out_digits(name):
    shipped = torch.load(digits_classifier_path(name), weights_only=True)
    net, (_, _, (xh, yh)) = digits_classifier(name), digits_split(name)
    with torch.no_grad(): accuracy = (net(to_model_range(xh)).argmax(1) == yh).float().mean().item()
    assert accuracy > 0.95 and accuracy == pytest.approx(shipped['heldout_accuracy'], abs=1.5 / len(xh))   # one digit either way
    assert net.image_size == xh.shape[-1] and not net.training


@pytest.mark.parametrize('name', DIGITS_SETS)
def test_the_recipe_logs_the_shipped_losses(name, threads):
    shipped = torch.load(digits_classifier_path(name), weights_only=True)
    torch.set_num_threads(shipped['threads'])
    same = lambda a, b: len(a) == len(b) and all(math.isclose(u, v, rel_tol=1e-5) for u, v in zip(a, b))
    losses = train_digits_classifier(name, stop=STEPS)[2]
    assert len(losses) == STEPS and same(losses, shipped['losses'][:STEPS])
    assert not same(train_digits_classifier(name, stop=5, seed=1)[2], shipped['losses'][:5])   # the tolerance tells seeds apart
    assert shipped['losses'][-1] < 0.1 * shipped['losses'][0]                   # and the full run learned


def test_a_damaged_classifier_file_is_one_error(tmp_path, monkeypatch):
    from ddpm_lit import evaluation
    bad = tmp_path / 'digits8x8-classifier-v1.pt'
    bad.write_bytes(b'not a checkpoint')
    monkeypatch.setattr(evaluation, 'digits_classifier_path', lambda name='digits8x8': bad)
    with pytest.raises(FeatureError, match='classifier that ships with ddpm_lit cannot be read from .*reinstall'):
        DigitsFeatures('digits8x8')


def test_a_saved_classifier_reads_back_as_the_shipped_ones_do(tmp_path, monkeypatch):
    "tools/train_digits_classifiers.py writes with save_digits_classifier, in the format digits_classifier reads."
    from ddpm_lit import evaluation
    shipped = torch.load(digits_classifier_path('digits8x8'), weights_only=True)
    path = tmp_path / 'digits8x8-classifier-v1.pt'
    net, accuracy, losses = train_digits_classifier('digits8x8', stop=2)                # weights other than the shipped ones
    save_digits_classifier(path, net, accuracy, losses, 3)
    saved = torch.load(path, weights_only=True)
    assert saved.keys() == shipped.keys() and (saved['heldout_accuracy'], saved['losses'], saved['threads']) == (accuracy, losses, 3)
    monkeypatch.setattr(evaluation, 'digits_classifier_path', lambda name='digits8x8': path)
    read, ref = digits_classifier('digits8x8'), net.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in read.state_dict().items()) and not read.training
    assert not torch.equal(read.state_dict()['head.weight'], shipped['model']['head.weight'])
