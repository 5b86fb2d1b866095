"""Train the digits classifiers that ship in ddpm_lit/weights/ (the FID features of the built-in digits sets).

    python tools/train_digits_classifiers.py [digits8x8] [digits]

Each is `ddpm_lit.evaluation.train_digits_classifier(name)` on THREADS CPU threads, whatever the machine: the thread
count changes how some sums are split, and so the weights in their last bits. The file keeps, beside the weights,
the held-out accuracy, the loss of every step, the thread count and torch's version; tests/test_digits_classifiers.py
checks the accuracy and that the recipe's first steps log those losses. A file is written whole or not at all.
"""
import argparse
import time

import torch

from ddpm_lit.evaluation import DIGITS_SETS, digits_classifier_path, save_digits_classifier, train_digits_classifier

THREADS = 2


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('names', nargs='*', choices=DIGITS_SETS, default=list(DIGITS_SETS))
    names = p.parse_args(argv).names
    torch.set_num_threads(THREADS)
    for name in names:
        start = time.time()
        net, accuracy, losses = train_digits_classifier(name)
        path = digits_classifier_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_digits_classifier(path, net, accuracy, losses, THREADS)
        print(f'{name}: {len(losses)} steps in {time.time() - start:.0f} s, held-out accuracy {accuracy:.3f}, '
              f'last loss {losses[-1]:.4f}: {path}')


if __name__ == '__main__':
    main()
