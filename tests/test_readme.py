"""Every ```python and ```bash block of README.md runs as written, so the README cannot drift from the package.

The blocks run in the README's order, in one temporary folder, so that a block can use what an earlier one wrote (the
checkpoint of a `train` command, say). The folder of `sys.executable` leads PATH, so `ddpm-lit`, `python` and
`torchrun` are those of the environment this test runs in. A Python block runs as a script with `sys.executable`. A
bash block runs one command at a time (a line that ends in a backslash goes on to the next), each with
`set -euo pipefail`. Every command must end with status 0, and a `ddpm-lit` command must have written, while it ran,
what its `--out` names: `OUT/checkpoint.pt` for `train`, the file itself for `sample` and `fid-stats` (an image that
PIL opens, for `sample`); an `evaluate` must print its results.

`evaluate` caches the FID statistics of the reference digits in the session's own folder, which the other tests of
the session share, unless $DDPM_LIT_CACHE names another.

A block runs exactly as written unless an HTML comment right before it (with nothing but blank lines between),
which a reader of the rendered README does not see, says otherwise:

    <!-- readme-test
    DIRECTIVE
    ...
    -->

One directive a line, each `KEYWORD [TARGET]: TEXT`:

- `skip: WHY`: the block is not run; the program that each of its commands starts must exist all the same (on PATH,
  or a shell builtin such as `source`).
- `skip PREFIX: WHY`: the block's lines that begin with PREFIX are not run (their programs must exist).
- `dry-run PREFIX: WHY`: the `make` lines that begin with PREFIX run as `make -n ...` in the repository's root: the
  targets must exist and the Makefile must read, and nothing is built.
- `parse-only PREFIX: WHY`: the lines that begin with PREFIX are not run; the package's own argument parser must
  accept their `ddpm-lit` (or `python -m ddpm_lit`) arguments, and torchrun's parser a `torchrun` in front of them.
- `shorten COMMAND: OPTIONS`: in every `ddpm-lit COMMAND` line that runs, each option of OPTIONS (an option with one
  value, or a flag) is set as given there: its value replaced where the line has the option, appended where not.
  For example `shorten train: --batch-size 8 --T 20`.
- `replace: OLD => NEW`: the block's text OLD is replaced by NEW before anything else (for a value that differs from
  line to line, such as the `--steps` of a run and of its resumption).

A directive that matches nothing in its block, a line that two directives claim, a marker comment that is not right
before a block, an unknown keyword, a directive without its reason, and a fenced block in any language other than
python or bash each fail the test, so a marking cannot go stale and no block goes unchecked.
"""
import contextlib
import dataclasses
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
BIN = Path(sys.executable).parent                      # the environment's bin folder: ddpm-lit, python, torchrun
KEYWORDS = ('skip', 'dry-run', 'parse-only', 'shorten', 'replace')
PREFIXED = ('skip', 'dry-run', 'parse-only')           # the keywords whose target is the beginning of a line
COMMANDS = ('train', 'sample', 'evaluate', 'fid-stats')
BUILTINS = {'source', '.', 'cd', 'export', 'echo', 'set'}
MARKER = re.compile(r'<!--\s*readme-test\b(.*?)-->', re.S)
DIRECTIVE = re.compile(r'^(?P<keyword>[\w-]+)(?:\s+(?P<target>.+?))?:\s+(?P<text>\S.*)$')
TIMEOUT = 600


@dataclasses.dataclass
class Directive:
    keyword: str
    target: str
    text: str
    line: int                                          # its line in README.md
    used: int = 0


@dataclasses.dataclass
class Block:
    lang: str
    text: str
    line: int                                          # the line of its opening fence in README.md
    directives: list


@dataclasses.dataclass
class Step:
    "One thing to do: a Python script, or one command of a bash block, and how (run, skip, dry-run, parse-only)."
    block: Block
    line: int
    mode: str
    text: str                                          # as it will run (after replace and shorten)
    written: str                                       # as the README writes it


def blocks(text:str) -> list:
    "The README's fenced blocks, each with the directives of the marker comment right before it."
    lines = text.splitlines()
    markers = {}                                       # the line a marker comment ends on: its directives
    for m in MARKER.finditer(text):
        start = text.count('\n', 0, m.start()) + 1
        end = text.count('\n', 0, m.end()) + 1
        found = []
        for i, d in enumerate(m.group(1).splitlines()):
            d = d.strip()
            if not d: continue
            dm = DIRECTIVE.match(d)
            assert dm and dm['keyword'] in KEYWORDS, f'README.md:{start + i}: not a directive: {d!r} (see the docstring of {__file__})'
            found.append(Directive(dm['keyword'], (dm['target'] or '').strip(), dm['text'].strip(), start + i))
        assert found, f'README.md:{start}: a readme-test marker with no directive'
        markers[end] = found
    out, i, claimed = [], 0, set()
    while i < len(lines):
        fence = re.match(r'^(`{3,})\s*(\S*)', lines[i])
        if not fence: i += 1; continue
        ticks, lang, start = fence[1], fence[2], i + 1
        j = i + 1
        while j < len(lines) and not lines[j].startswith(ticks): j += 1
        assert j < len(lines), f'README.md:{start}: a code block that is never closed'
        k = i - 1                                      # the marker, if any, ends on the last non-blank line above
        while k >= 0 and not lines[k].strip(): k -= 1
        directives = markers.get(k + 1, [])
        if directives: claimed.add(k + 1)
        out.append(Block(lang, '\n'.join(lines[i + 1:j]) + '\n', start, directives))
        i = j + 1
    stray = sorted(set(markers) - claimed)
    assert not stray, f'README.md:{stray}: a readme-test marker that is not right before a code block'
    return out


def ddpm_lit_args(tokens:list):
    "(the tokens up to the program, the ddpm-lit arguments) of a command, or None when it does not run ddpm-lit."
    for i, t in enumerate(tokens):
        if t == 'ddpm-lit' or t.endswith('/ddpm-lit'): return tokens[:i + 1], tokens[i + 1:]
        if t == '-m' and tokens[i + 1:i + 2] == ['ddpm_lit']: return tokens[:i + 2], tokens[i + 2:]
    return None


def option_pairs(text:str) -> list:
    "`--a 1 --flag --b=2` as [('--a', '1'), ('--flag', None), ('--b', '2')]."
    tokens, pairs = shlex.split(text), []
    for i, t in enumerate(tokens):
        if not t.startswith('--'):
            assert i and tokens[i - 1].startswith('--') and '=' not in tokens[i - 1], f'{text!r}: {t!r} follows no option'
            continue
        if '=' in t: pairs.append(tuple(t.split('=', 1)))
        else: pairs.append((t, tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith('--') else None))
    return pairs


def set_options(args:list, pairs:list) -> list:
    "args with each (option, value) set: the value replaced where the option is given, else appended."
    args = list(args)
    for flag, value in pairs:
        hits = [i for i, a in enumerate(args) if a == flag or a.startswith(flag + '=')]
        for i in hits:
            if value is None: continue
            if args[i] == flag: args[i + 1] = value
            else: args[i] = f'{flag}={value}'
        if not hits: args += [flag] + ([] if value is None else [value])
    return args


def quote(token:str) -> str:
    "shlex.quote, except that a leading ~ is left for the shell to expand."
    return token if re.fullmatch(r'[\w@%+=:,./~-]+', token) else shlex.quote(token)


def commands(text:str, first:int) -> list:
    "(README line, command) for each command of a bash block: blank lines and comment lines dropped, continuations joined."
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        start, line = first + i, lines[i]
        while line.rstrip().endswith('\\') and i + 1 < len(lines):
            i += 1; line = line.rstrip()[:-1] + ' ' + lines[i].strip()
        i += 1
        if line.strip() and not line.strip().startswith('#'): out.append((start, line.strip()))
    return out


def plan(text:str=None) -> list:
    "Every step the README asks for, in order, with its directives applied (and checked for staleness)."
    text = README.read_text() if text is None else text
    steps = []
    for b in blocks(text):
        where = f'README.md:{b.line}'
        assert b.lang in ('python', 'bash'), (f'{where}: a ```{b.lang} block; only python and bash blocks are run, so '
                                              'write it as one of those (with a readme-test marker if it cannot run here)')
        for d in b.directives:
            if d.keyword in PREFIXED: assert b.lang == 'bash' or d.keyword == 'skip' and not d.target, \
                f'README.md:{d.line}: {d.keyword} with a target is for bash blocks'
            if d.keyword in ('dry-run', 'parse-only'): assert d.target, f'README.md:{d.line}: {d.keyword} needs the beginning of a line'
            if d.keyword == 'shorten':
                assert b.lang == 'bash' and d.target in COMMANDS, f'README.md:{d.line}: shorten names one of {COMMANDS}'
                option_pairs(d.text)
            if d.keyword == 'replace':
                assert ' => ' in d.text and not d.target, f'README.md:{d.line}: replace: OLD => NEW'
        body = b.text
        for d in b.directives:
            if d.keyword != 'replace': continue
            old, new = d.text.split(' => ', 1)
            d.used = body.count(old)
            body = body.replace(old, new)
        if any(d.keyword == 'skip' and not d.target for d in b.directives):
            for d in b.directives:
                if d.keyword == 'skip' and not d.target: d.used += 1
            assert len(b.directives) == 1, f'{where}: a skipped block takes no other directive'
        whole = 'skip' if any(d.keyword == 'skip' and not d.target for d in b.directives) else None
        if b.lang == 'python':
            steps.append(Step(b, b.line, whole or 'run', body, b.text))
        else:
            written = dict(commands(b.text, b.line + 1))
            for line, cmd in commands(body, b.line + 1):
                claims = [d for d in b.directives if d.keyword in PREFIXED and d.target and cmd.startswith(d.target)]
                assert len(claims) <= 1, f'README.md:{line}: claimed by more than one directive: {[c.line for c in claims]}'
                for c in claims: c.used += 1
                mode = whole or (claims[0].keyword if claims else 'run')
                if mode == 'run':
                    tokens = shlex.split(cmd, comments=True)
                    parts = ddpm_lit_args(tokens)
                    for d in b.directives:
                        if d.keyword == 'shorten' and parts and parts[1][:1] == [d.target]:
                            assert not {'&&', '||', '|', ';', '>', '<'} & set(tokens), f'README.md:{line}: shorten needs a plain command'
                            d.used += 1
                            cmd = ' '.join(quote(t) for t in parts[0] + set_options(parts[1], option_pairs(d.text)))
                            parts = ddpm_lit_args(shlex.split(cmd))
                steps.append(Step(b, line, mode, cmd, written.get(line, cmd)))
        unused = [d for d in b.directives if not d.used]
        assert not unused, f'{where}: directives that match nothing in the block: {[(d.line, d.keyword, d.target) for d in unused]}'
    return steps


def env_for(cache:Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(BIN.parent), DDPM_LIT_CACHE=str(cache),
               MPLBACKEND='Agg', PYTHONUNBUFFERED='1')
    return env


def program_exists(cmd:str, env:dict) -> bool:
    tokens = [t for t in shlex.split(cmd, comments=True) if not re.match(r'^\w+=', t)]
    return not tokens or tokens[0] in BUILTINS or shutil.which(tokens[0], path=env['PATH']) is not None


def parses(cmd:str) -> str:
    "Why the package's parser (and torchrun's, for a torchrun line) refuses the command's arguments, or '' if it takes them."
    from ddpm_lit.cli import _parser
    tokens = shlex.split(cmd, comments=True)
    parts = ddpm_lit_args(tokens)
    if parts is None: return 'runs no ddpm-lit command'
    before, args = parts
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            if before and Path(before[0]).name == 'torchrun':
                from torch.distributed.run import get_args_parser
                t = get_args_parser().parse_args(before[1:] + args)
                assert t.module and t.training_script == 'ddpm_lit' and t.training_script_args == args, t
            a = _parser().parse_args(args)
            if a.command is None: return 'names no ddpm-lit command'
        except SystemExit as e:
            if e.code: return f'exit status {e.code}: {err.getvalue().strip()}'
    return ''


def outputs(cmd:str, cwd:Path) -> list:
    "The files a ddpm-lit command says (with --out) that it writes."
    parts = ddpm_lit_args(shlex.split(cmd, comments=True))
    if not parts or not parts[1]: return []
    args, out = parts[1], None
    for i, a in enumerate(args):
        if a == '--out' and i + 1 < len(args): out = args[i + 1]
        elif a.startswith('--out='): out = a.split('=', 1)[1]
    if out is None or args[0] not in ('train', 'sample', 'fid-stats'): return []
    out = cwd / Path(out).expanduser()
    return [out / 'checkpoint.pt'] if args[0] == 'train' else [out]


def test_every_block_is_run_or_marked():
    steps = plan()
    assert {s.block.lang for s in steps} == {'python', 'bash'}
    assert sum(s.mode == 'run' for s in steps) >= 10, [(s.line, s.mode) for s in steps]
    first = next(s for s in steps if s.mode == 'run' and 'ddpm-lit train' in s.written)
    assert '--device cpu' in first.written, f'README.md:{first.line}: the first training command is the CPU run'


@pytest.mark.parametrize('broken, message', [
    ('```text\nhello\n```\n', 'only python and bash'),
    ('<!-- readme-test\nskip make nothing: never there\n-->\n```bash\nmake book\n```\n', 'match nothing'),
    ('<!-- readme-test\nskip: \n-->\n```bash\nmake book\n```\n', 'not a directive'),
    ('<!-- readme-test\nskip: why\n-->\n\nsome words\n```bash\nmake book\n```\n', 'not right before'),
    ('<!-- readme-test\nshorten train: --steps 2\n-->\n```bash\nddpm-lit sample --ckpt c.pt --out a.png\n```\n', 'match nothing'),
])
def test_a_block_that_is_neither_run_nor_marked_fails(broken, message):
    with pytest.raises(AssertionError, match=message): plan(README.read_text() + '\n' + broken)


def test_shorten_sets_the_options_of_the_line():
    steps = plan('<!-- readme-test\nshorten train: --steps 2 --T 20 --no-compile\n-->\n'
                 '```bash\nddpm-lit train --data digits8x8 --steps 1500 --out runs/a   # a comment\n```\n')
    assert [s.text for s in steps] == ['ddpm-lit train --data digits8x8 --steps 2 --out runs/a --T 20 --no-compile']
    assert parses(steps[0].text) == '' and 'unrecognized' in parses('ddpm-lit train --stepz 2')


def test_readme_blocks_run(tmp_path, digits_cache):
    work = tmp_path / 'readme'
    work.mkdir()
    env, log = env_for(os.environ.get('DDPM_LIT_CACHE') or digits_cache), []
    for n, s in enumerate(plan()):
        where = f'README.md:{s.line}'
        if s.mode == 'skip':
            cmds = [c for _, c in commands(s.text, s.line)] if s.block.lang == 'bash' else []
            missing = [c for c in cmds if not program_exists(c, env)]
            assert not missing, f'{where}: a skipped line names a program that is not installed: {missing}'
            log.append(f'{where}  skipped  {s.written}'); continue
        if s.mode == 'parse-only':
            assert program_exists(s.text, env), f'{where}: {s.text.split()[0]} is not installed'
            why = parses(s.text)
            assert not why, f'{where}: the options do not parse: {why}\n  {s.text}'
            log.append(f'{where}  parsed   {s.text}'); continue
        t0 = time.time()
        if s.mode == 'dry-run':
            tokens = shlex.split(s.text, comments=True)
            assert tokens[0] == 'make', f'{where}: dry-run is for make lines'
            r = subprocess.run(['make', '-n', '-C', str(REPO), *tokens[1:]], env=env, capture_output=True, text=True, timeout=TIMEOUT)
        elif s.block.lang == 'python':
            script = work / f'readme_block_{n}.py'
            script.write_text(s.text)
            r = subprocess.run([sys.executable, script.name], cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        else:
            r = subprocess.run(['bash', '-c', 'set -euo pipefail\n' + s.text], cwd=work, env=env, capture_output=True,
                               text=True, timeout=TIMEOUT)
        took = time.time() - t0
        assert r.returncode == 0, (f'{where}: exit status {r.returncode} from\n{s.text}\n--- stdout\n{r.stdout[-3000:]}'
                                   f'\n--- stderr\n{r.stderr[-3000:]}')
        if s.mode == 'run' and s.block.lang == 'bash':
            for f in outputs(s.text, work):
                assert f.is_file() and f.stat().st_mtime >= t0 - 2, f'{where}: {f.relative_to(work)} was not written by\n{s.text}'
                if f.suffix == '.png':
                    from PIL import Image
                    with Image.open(f) as im: im.verify()
            parts = ddpm_lit_args(shlex.split(s.text, comments=True))
            if parts and parts[1][:1] == ['evaluate']: assert r.stdout.strip(), f'{where}: evaluate printed nothing'
        log.append(f'{where}  {s.mode:8s} {took:5.1f} s  {s.text if s.block.lang == "bash" else "(python block)"}')
    print('\n'.join(log))
