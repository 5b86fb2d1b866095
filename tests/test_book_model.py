"""nbs/book_model.py keeps the book's trained models between builds while nothing that made them changed.

The key of a run is its recipe (every setting but the folder it is written to), the code of the `ddpm_lit`
modules that training runs (their syntax trees without docstrings), and torch's version. These tests replace training by a stand-in that writes a
checkpoint-shaped file and counts its calls, so they take a second, not the minutes of a real run.
"""
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'nbs'))
import book_model  # noqa: E402


@pytest.fixture
def fake(tmp_path, monkeypatch):
    "book_model with a stand-in trainer and loader; `fake.calls` lists the runs trained, `fake.cfg` is a run in tmp_path."
    calls = []

    def train(cfg):
        calls.append(cfg.out)
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / 'checkpoint.pt').write_text(f'trained {len(calls)}')

    monkeypatch.setattr(book_model, 'train', train)
    monkeypatch.setattr(book_model, 'load_model', lambda path: Path(path).read_text())
    ns = type('Fake', (), {})()
    ns.calls, ns.cfg = calls, dataclasses.replace(book_model.BOOK_RUN, out=str(tmp_path / '_runs' / 'digits8x8'))
    return ns


def test_training_sources_are_the_trainer_and_what_it_imports():
    names = {p.name for p in book_model.training_sources()}
    assert {'training.py', 'checkpoint.py', 'unet.py', 'ddpm.py', 'data.py', 'forward_process.py'} <= names
    assert not names & {'cli.py', '__main__.py', '_modidx.py', 'evaluation.py'}, names


def test_key_follows_recipe_sources_and_torch_not_the_folder(monkeypatch, tmp_path):
    key = lambda cfg: book_model.recipe_key(cfg)['key']
    base = key(book_model.BOOK_RUN)
    assert key(dataclasses.replace(book_model.BOOK_RUN, out=str(tmp_path))) == base           # moved: the same run
    assert key(dataclasses.replace(book_model.BOOK_RUN, steps=1501)) != base
    assert key(dataclasses.replace(book_model.BOOK_RUN, lr=2e-3)) != base
    assert key(book_model.BOOK_COND_RUN) != base
    src = tmp_path / 'training.py'
    src.write_text('x = 1\n')
    monkeypatch.setattr(book_model, 'training_sources', lambda: [src])
    one = key(book_model.BOOK_RUN)
    src.write_text('x = 2\n')
    assert key(book_model.BOOK_RUN) != one
    two = key(book_model.BOOK_RUN)
    src.write_text('"A module docstring."\n# a comment\nx  =  2\n')               # wording and layout: the same code
    assert key(book_model.BOOK_RUN) == two
    src.write_text('def f():\n    "Implements eq. one."\n    return 2\nx = 2\n')
    with_doc = key(book_model.BOOK_RUN)
    src.write_text('def f():\n    "Implements eq. another."\n    return 2\nx = 2\n')
    assert key(book_model.BOOK_RUN) == with_doc
    src.write_text('def f():\n    "Implements eq. another."\n    return 3\nx = 2\n')
    assert key(book_model.BOOK_RUN) != with_doc
    src.write_text('def f():\n    "only a docstring"\nx = 2\n')
    assert key(book_model.BOOK_RUN) not in (two, with_doc)                      # an emptied body is still a function
    monkeypatch.setattr(book_model.torch, '__version__', 'another')
    assert key(book_model.BOOK_RUN) != one
    other_torch = key(book_model.BOOK_RUN)
    monkeypatch.setattr(book_model, 'BOOK_THREADS', book_model.BOOK_THREADS + 1)
    assert key(book_model.BOOK_RUN) != other_torch


def test_a_run_trains_with_the_books_threads_and_gives_the_count_back(fake, monkeypatch):
    "Whatever this process's thread count, the run trains with BOOK_THREADS, and the count is restored after."
    seen, real = [], book_model.train
    monkeypatch.setattr(book_model, 'train', lambda cfg: (seen.append(book_model.torch.get_num_threads()), real(cfg)))
    before = book_model.torch.get_num_threads()
    monkeypatch.setattr(book_model, 'BOOK_THREADS', before + 1)
    book_model.trained(fake.cfg)
    assert seen == [before + 1] and book_model.torch.get_num_threads() == before


def test_a_run_is_trained_once_then_reused(fake):
    assert book_model.trained(fake.cfg) == 'trained 1'
    assert book_model.trained(fake.cfg) == 'trained 1' and len(fake.calls) == 1
    stored = json.loads((Path(fake.cfg.out) / book_model.RECIPE_FILE).read_text())
    assert stored == json.loads(json.dumps(book_model.recipe_key(fake.cfg), default=repr))


def test_a_changed_key_removes_the_run_and_trains_afresh(fake, monkeypatch):
    book_model.trained(fake.cfg)
    (Path(fake.cfg.out) / 'samples.png').write_text('of the old run')
    real = book_model.recipe_key
    monkeypatch.setattr(book_model, 'recipe_key', lambda cfg: {**real(cfg), 'key': 'other code'})
    assert book_model.trained(fake.cfg) == 'trained 2'
    assert not (Path(fake.cfg.out) / 'samples.png').exists()                # the old run's files went with it
    assert book_model.trained(fake.cfg) == 'trained 2' and len(fake.calls) == 2


def test_an_unfinished_or_unmarked_run_is_trained_afresh(fake):
    out = Path(fake.cfg.out)
    out.mkdir(parents=True)
    (out / 'checkpoint.pt').write_text('step 500 of a run that was stopped')  # no recipe.json: never finished here
    assert book_model.trained(fake.cfg) == 'trained 1'
    (out / book_model.RECIPE_FILE).write_text('{not json')
    assert book_model.trained(fake.cfg) == 'trained 2'


def test_a_second_caller_waits_for_the_first(fake, monkeypatch):
    "Two callers at once: one trains, the other waits on the lock beside the folder and then loads that run."
    real_train, started = book_model.train, threading.Event()

    def slow_train(cfg):
        started.set(); time.sleep(0.5); real_train(cfg)

    monkeypatch.setattr(book_model, 'train', slow_train)
    got = []
    first = threading.Thread(target=lambda: got.append(book_model.trained(fake.cfg)))
    first.start(); started.wait(5)
    got.append(book_model.trained(fake.cfg))                  # blocks on the lock until the first has trained
    first.join()
    assert got == ['trained 1', 'trained 1'] and len(fake.calls) == 1
    lock = Path(fake.cfg.out).with_name('.digits8x8.lock')
    assert lock.is_file() and not (Path(fake.cfg.out) / '.lock').exists()


SHIPPED = [book_model.BOOK_RUN, book_model.BOOK_COND_RUN]
# Read when the tests are collected, before any notebook of the run could retrain a stale run in place and so make
# its key today's: the key checked is the one the checkout ships.
SHIPPED_RECIPES = {Path(cfg.out).name: (Path(cfg.out) / book_model.RECIPE_FILE).read_text()
                   for cfg in SHIPPED if (Path(cfg.out) / book_model.RECIPE_FILE).is_file()}


@pytest.mark.parametrize('cfg', SHIPPED, ids=lambda cfg: Path(cfg.out).name)
def test_the_shipped_run_is_todays(cfg):
    "A run in nbs/book_runs carries the key of today's recipe, trainer and torch, so the book loads it rather than training."
    out = Path(cfg.out)
    assert out.parent == ROOT / 'nbs' / 'book_runs'
    assert out.name in SHIPPED_RECIPES, f'{out} holds no {book_model.RECIPE_FILE}: the book ships its trained runs (git checkout {out})'
    stored = json.loads(SHIPPED_RECIPES[out.name])
    made = json.loads(json.dumps(book_model.recipe_key(cfg), default=repr))
    assert stored['key'] == made['key'], (f'{out.name} was trained under another key: '
                                          f'{ {k: v for k, v in made["sources"].items() if stored["sources"].get(k) != v} }')
    assert stored == made


@pytest.mark.parametrize('cfg', SHIPPED, ids=lambda cfg: Path(cfg.out).name)
def test_the_recipe_reproduces_the_shipped_runs_first_loss(cfg, tmp_path):
    """The recipe, trained here for its first 50 steps, logs the shipped run's first row (the mean loss of steps 1 to 50)
    to the six decimals of log.csv, and the shipped checkpoint is its last step with the recipe's settings: the shipped
    weights come from this recipe, not from another run stored under its name. (The learning rate after the warm-up is
    constant, so the first 50 steps do not depend on the number of steps.)"""
    from ddpm_lit.checkpoint import load_checkpoint
    short = dataclasses.replace(cfg, out=str(tmp_path / 'run'), steps=50)
    book_model.train_recipe(short)
    first = lambda folder: (Path(folder) / 'log.csv').read_text().splitlines()[:2]
    (head, row), (shipped_head, shipped_row) = first(short.out), first(cfg.out)
    assert head == shipped_head
    assert row.split(',')[:3] == shipped_row.split(',')[:3]                 # step, loss, lr (not the images per second)
    ckpt, here = (load_checkpoint(Path(folder) / 'checkpoint.pt') for folder in (cfg.out, short.out))
    assert ckpt['step'] == cfg.steps and here['step'] == 50
    settings = lambda c: {k: v for k, v in c['config'].items() if k not in ('out', 'steps')}   # as the trainer resolved them
    assert settings(ckpt) == settings(here)
