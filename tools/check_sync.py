"""Fail when `nbdev_export` or `nbdev_clean` would change a file.

The notebooks in nbs/ are the only source of ddpm_lit/. This runs both tools and reports every file
they touched: an exported module that was edited by hand, or a notebook committed unexported or with
stray metadata. The tools' own changes are left in place, ready to be reviewed and committed.
"""
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def snapshot():
    "Hash of every file the two tools may write."
    files = [*ROOT.glob('ddpm_lit/**/*.py'), *ROOT.glob('nbs/*.ipynb')]
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def main():
    before = snapshot()
    for tool in ('nbdev_export', 'nbdev_clean'):
        subprocess.run([str(BIN / tool)], cwd=ROOT, check=True)
    after = snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        print('nbdev_export / nbdev_clean changed these files; review and commit them:', file=sys.stderr)
        for name in changed: print(f'  {name}', file=sys.stderr)
        sys.exit(1)
    print(f'in step: {len(after)} files unchanged by nbdev_export and nbdev_clean')


if __name__ == '__main__':
    main()
