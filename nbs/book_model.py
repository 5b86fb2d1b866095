"""The models this book trains once on the CPU and samples from in several chapters.

The training chapter explains the run; the sampling and evaluation chapters call `book_model()`, which
trains it first if no chapter has done so yet (training is deterministic on the CPU, so every chapter
sees the same weights either way). Its recipe is pinned here, setting by setting, so that changes to the
trainer's defaults never change the book's model: a fixed average decay of 0.995 (no warm-up ramp) and
100 warm-up steps of the learning rate. The same run from the shell:

    ddpm-lit train --data digits8x8 --config digits8x8 --steps 1500 --batch-size 128 --lr 1e-3 \
        --warmup 100 --ema-decay 0.995 --ema-warmup no --ckpt-every 500 --sample-every 0 --log-every 50 \
        --device cpu --out book_runs/digits8x8

The book's conditional model (`book_cond_model()`, for the chapter on guidance and the command-line chapter) is
the same run with labels: `--conditional --cond-drop 0.1 --out book_runs/digits8x8_cond`.

A finished run is kept while nothing that made it has changed: its folder holds `recipe.json`, a key made of the
recipe, the code of the `ddpm_lit` modules that training runs (`training.py` and every module it imports, and
theirs: their syntax trees without docstrings, so that a change of wording or layout keeps the run), the version of
torch and the number of CPU threads it trains with. Where the key differs, or a run was left unfinished, the folder
is removed and the run trained afresh.
Several processes may ask for a model at once (the chapters run in parallel as tests): each waits on a lock file
beside the run's folder, so the run is trained once and the others then load it.

The two finished runs ship with the book, in `nbs/book_runs/` (11 MB each: the checkpoint, `log.csv` and
`recipe.json`), so that a fresh clone builds the book and runs its tests without first spending about 13 CPU-minutes
on training. They are what this code trains, and the tests say so: `tests/test_book_model.py` checks that each
shipped key is today's key, and trains each recipe's first 50 steps (with the same threads) to check that they log
the shipped run's first loss. A change to the trainer changes the key, so the next build trains the runs afresh in
place; commit them then.
"""
import ast
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import torch
from filelock import FileLock

import ddpm_lit
from ddpm_lit.training import TrainConfig, train
from ddpm_lit.checkpoint import load_model

BOOK_RUNS = Path(__file__).resolve().parent / 'book_runs'       # the finished runs, shipped with the book

BOOK_RUN = TrainConfig(data='digits8x8', out=str(BOOK_RUNS / 'digits8x8'),
                       preset='digits8x8', steps=1500, batch_size=128, lr=1e-3, warmup=100, grad_clip=1.0,
                       ema_decay=0.995, ema_warmup='no', flip='auto', T=1000, schedule='linear', conditional=False,
                       ckpt_every=500, sample_every=0, log_every=50, seed=0, device='cpu', precision='fp32',
                       compile='no', progress=False)

BOOK_COND_RUN = dataclasses.replace(BOOK_RUN, out=str(Path(BOOK_RUN.out).with_name('digits8x8_cond')), conditional=True,
                                    cond_drop=0.1)              # 0.1 is also the default; pinned, as the rest of the recipe is

RECIPE_FILE = 'recipe.json'                                     # in the run's folder: the key it was trained under

# The CPU's threads split some sums differently with another count, and over 1,500 steps that moves the weights (by up
# to 4e-3 between one thread and two), so the runs train with this many, whatever the machine, and the key names it.
BOOK_THREADS = 2


def training_sources(start:str='training') -> list:
    "The `ddpm_lit` modules that `ddpm_lit.<start>` imports, directly or through each other, `start` included: their files, sorted."
    package = Path(ddpm_lit.__file__).resolve().parent
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or not (package / f'{name}.py').is_file(): continue
        seen.add(name)
        for node in ast.walk(ast.parse((package / f'{name}.py').read_text())):
            if not isinstance(node, ast.ImportFrom): continue
            if node.level == 1 and node.module: todo.append(node.module.split('.')[0])          # from .unet import UNet
            elif node.level == 1: todo += [a.name for a in node.names]                           # from . import unet
            elif node.level == 0 and (node.module or '').startswith('ddpm_lit.'): todo.append(node.module.split('.')[1])
    return sorted(package / f'{name}.py' for name in seen)


def code_digest(path:Path) -> str:
    "A digest of the code in the Python file `path`: its syntax tree without docstrings (comments and layout are not in the tree)."
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
           and isinstance(body[0].value.value, str): node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def recipe_key(cfg:TrainConfig) -> dict:
    "What decides the weights of the run `cfg`: its settings (but where it is written), the trainer's code, torch's version and the threads; 'key' digests them."
    recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k != 'out'}
    sources = {p.name: code_digest(p) for p in training_sources()}
    made = {'recipe': recipe, 'sources': sources, 'torch': torch.__version__, 'threads': BOOK_THREADS}
    key = hashlib.sha256(json.dumps(made, sort_keys=True, default=repr).encode()).hexdigest()
    return {'key': key, **made}


def _stored_key(out:Path):
    try: return json.loads((out / RECIPE_FILE).read_text()).get('key')
    except (OSError, ValueError, AttributeError): return None


def train_recipe(cfg:TrainConfig):
    "Train the run `cfg` with `BOOK_THREADS` threads, then give the process back its own count."
    before = torch.get_num_threads()
    torch.set_num_threads(BOOK_THREADS)
    try: train(cfg)
    finally: torch.set_num_threads(before)


def trained(cfg:TrainConfig):
    "The EMA network of the run `cfg`, its schedule and the checkpoint: the run on disk if it was trained under today's key, else trained afresh."
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(out.with_name(f'.{out.name}.lock')):         # beside the folder (the trainer locks `.lock` inside it); waits for its holder
        made = recipe_key(cfg)
        if _stored_key(out) != made['key']:
            shutil.rmtree(out, ignore_errors=True)              # another recipe, other code, or a run left unfinished
            train_recipe(cfg)
            (out / RECIPE_FILE).write_text(json.dumps(made, indent=1, sort_keys=True, default=repr) + '\n')
        return load_model(out / 'checkpoint.pt')


def book_model():
    "The EMA network of the book's run (trained here if it is not on disk yet), its schedule, and the checkpoint."
    return trained(BOOK_RUN)


def book_cond_model():
    "The EMA network of the book's conditional run (trained here if it is not on disk yet), its schedule, and the checkpoint."
    return trained(BOOK_COND_RUN)


if __name__ == '__main__':
    # `make book` runs this before it checks the notebooks' cache (tools/book_cache.py), so that a run retrained for a
    # changed key is in place when the cache's inputs are digested, not rewritten under the cache by the build.
    for cfg in (BOOK_RUN, BOOK_COND_RUN):
        stale = _stored_key(Path(cfg.out)) != recipe_key(cfg)['key']
        trained(cfg)
        print(f"the book's run {Path(cfg.out).name}: " + ('trained afresh, its key had changed' if stale else "today's key, kept"))
