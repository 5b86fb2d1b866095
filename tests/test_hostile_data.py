"""Hostile data files: reading a data file must never run code.

A data folder may come from anyone. Whatever its files hold, `load_images`, `load_labels` and `class_names` must
not run code named in a pickle, must not reserve memory that a header or a pickle merely claims, must not hang on
a device or a pipe, and must not silently change what a label means. Every such file is one `DataError` line that
names the file and says what is wrong. Each hostile pickle here would create a marker file if it were unpickled by
`pickle.load` (`test_the_payload_runs_under_pickle_load` shows that it does), and each test asserts that the marker
was not created.
"""
import gzip
import io
import os
import pickle
import resource
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_lit.data import DataError, class_names, load_images, load_labels


class Payload:
    "Unpickled by pickle.load, this calls io.open(marker, 'w'), which creates the marker file."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return io.open, (self.marker, 'w')


class ShellPayload:
    "Unpickled by pickle.load, this runs `touch marker` through os.system."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return os.system, (f'touch {self.marker}',)


def error(thunk) -> str:
    "The message of the DataError that thunk() raises; it must be one line."
    with pytest.raises(DataError) as e: thunk()
    msg = str(e.value)
    assert '\n' not in msg
    return msg


def write(folder, obj, name='data_batch_1', protocol=2):
    "Pickle obj to folder/name (made if needed); the folder."
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=protocol))
    return folder


def batch(n=2, **entries):
    "A CIFAR-10 batch of n black images with labels 0, 1, 0, ...; entries (str keys) replace or add entries."
    b = {b'data': np.zeros((n, 3072), np.uint8), b'labels': [i % 2 for i in range(n)]}
    return {**b, **{k.encode(): v for k, v in entries.items()}}


def py2_batch(pixels, labels, rows=None) -> bytes:
    "A batch in the bytes Python 2 wrote with protocol 2 (strings as BINSTRING, numpy.core.multiarray._reconstruct); rows overrides the shape."
    def s(b): return b'U' + bytes([len(b)]) + b if len(b) < 256 else b'T' + struct.pack('<I', len(b)) + b
    n, m = pixels.shape
    out = b'\x80\x02}(' + s(b'data')
    out += b'cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85' + s(b'b') + b'\x87R'
    out += b'(K\x01M' + struct.pack('<H', rows or n) + b'M' + struct.pack('<H', m) + b'\x86'
    out += b'cnumpy\ndtype\n' + s(b'u1') + b'K\x00K\x01\x87R(K\x03' + s(b'|') + b'NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb'
    out += b'\x89' + s(pixels.tobytes()) + b'tb'
    out += s(b'labels') + b'](' + b''.join(b'K' + bytes([y]) for y in labels) + b'e'
    return out + b'u.'


# --- pickles that would run code -----------------------------------------------------------------------

def test_the_payload_runs_under_pickle_load(tmp_path):
    "The hostile bytes of these tests do run code under pickle.load: the marker checks below can fail."
    marker = tmp_path / 'marker'
    pickle.loads(pickle.dumps({b'data': Payload(marker)}, protocol=2), encoding='bytes')
    assert marker.exists()


def test_hostile_batch_through_load_images(tmp_path):
    marker = tmp_path / 'marker'
    d = write(tmp_path / 'c', {b'data': Payload(marker), b'labels': [0]})
    assert error(lambda: load_images(d)) == f'{d}/data_batch_1 is not a CIFAR-10 batch: it asks to load io.open, which the format never holds'
    assert not marker.exists()


def test_hostile_batch_through_load_labels(tmp_path):
    marker = tmp_path / 'marker'
    d = write(tmp_path / 'c', batch(labels=Payload(marker)))
    assert error(lambda: load_labels(d)) == f'{d}/data_batch_1 is not a CIFAR-10 batch: it asks to load io.open, which the format never holds'
    assert not marker.exists()


def test_hostile_shell_command(tmp_path):
    marker = tmp_path / 'marker'
    d = write(tmp_path / 'c', batch(data=ShellPayload(marker)))
    assert error(lambda: load_images(d)) == f'{d}/data_batch_1 is not a CIFAR-10 batch: it asks to load posix.system, which the format never holds'
    assert not marker.exists()


def test_hostile_second_batch(tmp_path):
    marker = tmp_path / 'marker'
    d = write(tmp_path / 'c', batch())
    write(d, batch(data=Payload(marker)), 'data_batch_2', protocol=4)
    assert error(lambda: load_images(d)) == f'{d}/data_batch_2 is not a CIFAR-10 batch: it asks to load io.open, which the format never holds'
    assert not marker.exists()


def test_hostile_meta_through_class_names(tmp_path):
    marker = tmp_path / 'marker'
    d = write(tmp_path / 'c', batch())
    write(d, {b'label_names': [b'a', Payload(marker)]}, 'batches.meta')
    want = f'{d}/batches.meta is not a CIFAR-10 meta file: it asks to load io.open, which the format never holds'
    assert error(lambda: class_names(d)) == want
    assert error(lambda: load_labels(d)) == want
    assert not marker.exists()


def test_object_array_refused_before_its_objects_are_made(tmp_path):
    marker = tmp_path / 'marker'
    d = write(tmp_path / 'c', batch(data=np.array([[0, Payload(marker)]], dtype=object)))
    assert error(lambda: load_images(d)) == (f"{d}/data_batch_1 is not a CIFAR-10 batch: it holds a numpy array of dtype 'O8' "
                                             '(Python objects); the format holds only arrays of numbers')
    assert not marker.exists()


def test_structured_dtype_refused(tmp_path):
    d = write(tmp_path / 'c', batch(data=np.zeros(2, dtype=[('a', 'u1'), ('b', 'u1')])))
    assert error(lambda: load_images(d)) == (f"{d}/data_batch_1 is not a CIFAR-10 batch: it holds a numpy array of dtype 'V2'; "
                                             'the format holds only arrays of numbers')


def test_dtype_state_with_fields_refused(tmp_path):
    "A number dtype whose pickled state adds fields (numpy's setstate would take them) is refused."
    raw = (b"\x80\x02cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NU\x01a\x85}U\x01acnumpy\ndtype\nU\x02u1K\x00K\x01\x87RK\x00\x86s"
           b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.")
    d = write(tmp_path / 'c', raw)
    assert error(lambda: load_images(d)) == (f'{d}/data_batch_1 is not a CIFAR-10 batch: it holds a numpy dtype with fields or sub-arrays; '
                                             'the format holds only arrays of numbers')


def test_object_field_smuggled_in_dtype_state(tmp_path):
    """numpy's own unpickling accepts this: a u8 dtype whose state adds a field of Python objects without marking the dtype
    as holding objects; an array of the file's bytes with it is then read as object addresses (a crash, or worse)."""
    raw = (b"\x80\x02cnumpy\ndtype\nU\x02u8K\x00K\x01\x87R(K\x03U\x01|NU\x01a\x85}U\x01acnumpy\ndtype\nU\x02O8K\x00K\x01\x87R"
           b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tbK\x00\x86sK\x08K\x01K\x00tb.")
    d = write(tmp_path / 'c', raw)
    assert error(lambda: load_images(d)) == (f"{d}/data_batch_1 is not a CIFAR-10 batch: it holds a numpy array of dtype 'O8' "
                                             '(Python objects); the format holds only arrays of numbers')


def test_array_bytes_must_fill_its_shape(tmp_path):
    pixels = np.zeros((2, 3072), np.uint8)
    d = write(tmp_path / 'c', py2_batch(pixels, [0, 1], rows=3))
    assert error(lambda: load_images(d)) == (f'{d}/data_batch_1 is not a CIFAR-10 batch: it holds a numpy array of shape (3, 3072) '
                                             'and dtype uint8 whose 6144 bytes do not fill it')


def test_admitted_names_cannot_be_changed(tmp_path):
    "BUILD on a loaded name (which would set attributes of a function here) is refused."
    d = write(tmp_path / 'c', b'\x80\x02cnumpy\ndtype\n}b.')
    assert error(lambda: load_images(d)) == (f'{d}/data_batch_1 is not a CIFAR-10 batch: it asks to change what a loaded name stands for, '
                                             'which the format never does')


def test_codecs_encode_only_latin1(tmp_path):
    d = write(tmp_path / 'c', b'\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00rot_13\x86R.')
    assert error(lambda: load_images(d)) == (f"{d}/data_batch_1 is not a CIFAR-10 batch: it asks _codecs.encode for 'rot_13'; "
                                             'the format only writes bytes as latin-1 text')


def test_bytes_with_a_size_refused(tmp_path):
    "bytes(10**9) would allocate a gigabyte; only bytes() is admitted."
    d = write(tmp_path / 'c', b'\x80\x02c__builtin__\nbytes\nJ\x00\xca\x9a\x3b\x85R.')
    assert error(lambda: load_images(d)) == (f'{d}/data_batch_1 is not a CIFAR-10 batch: it asks for bytes(...) of something; '
                                             'the format only writes bytes() that way')


def test_unprintable_name_is_one_line(tmp_path):
    d = write(tmp_path / 'c', b'\x80\x04\x8c\x05os\nxx\x94\x8c\x06system\x94\x93.')
    assert error(lambda: load_images(d)) == (f"{d}/data_batch_1 is not a CIFAR-10 batch: it asks to load 'os\\nxx.system', "
                                             'which the format never holds')


def test_memo_index_does_not_reserve_memory(tmp_path):
    "Nine bytes naming memo index 2**25 - 1 make the C unpickler reserve and clear 512 MiB; here they cost nothing."
    d = write(tmp_path / 'c', b'\x80\x02Nr\xff\xff\xff\x01.')
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert error(lambda: load_images(d)) == f"{d}/data_batch_1 is not a CIFAR-10 batch: it holds None, not a dict with b'data'"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 128 * 1024       # KiB


def test_garbage_batch(tmp_path):
    d = write(tmp_path / 'c', b'garbage')
    assert error(lambda: load_images(d)) == f'{d}/data_batch_1 is not a readable CIFAR-10 batch (ValueError)'


# --- the real format still loads ------------------------------------------------------------------------

def test_real_format_protocol_2_loads(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 3072), dtype=np.uint8)
    d = write(tmp_path / 'c', {b'batch_label': b'training batch 1 of 5', b'labels': [3, 1, 4, 1, 5], b'data': pixels,
                               b'filenames': [b'a.png', b''] + [b'b.png'] * 3})
    write(d, {b'label_names': [b'airplane', b'automobile', b'bird', b'cat', b'deer', b'dog', b'frog', b'horse', b'ship', b'truck'],
              b'num_cases_per_batch': 10000, b'num_vis': 3072}, 'batches.meta')
    assert torch.equal(load_images(d), torch.from_numpy(pixels).reshape(5, 3, 32, 32))
    assert load_labels(d).tolist() == [3, 1, 4, 1, 5] and load_labels(d).dtype == torch.long
    assert class_names(d)[:3] == ('airplane', 'automobile', 'bird') and len(class_names(d)) == 10


def test_python2_batch_loads(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (3, 3072), dtype=np.uint8)
    raw = py2_batch(pixels, [7, 0, 9])
    assert np.array_equal(pickle.loads(raw, encoding='bytes')[b'data'], pixels)      # numpy's own reading of these bytes
    d = write(tmp_path / 'cifar-10-batches-py', raw)
    assert torch.equal(load_images(tmp_path), torch.from_numpy(pixels).reshape(3, 3, 32, 32))
    assert load_labels(tmp_path).tolist() == [7, 0, 9] and class_names(d) == tuple('0123456789')


# --- what a batch must hold -----------------------------------------------------------------------------

CLASSES = '(CIFAR-10 has 10 classes; a batches.meta that names more allows more)'


@pytest.mark.parametrize('entries, why', [
    ({'data': np.zeros((2, 3000), np.uint8)}, "its b'data' has shape (2, 3000), not one row of 3072 values (3 x 32 x 32) per image"),
    ({'data': np.zeros(2 * 3072, np.uint8)}, "its b'data' has shape (6144,), not one row of 3072 values (3 x 32 x 32) per image"),
    ({'data': np.full((2, 3072), 300)}, "its b'data' holds values outside 0..255"),
    ({'data': np.full((2, 3072), -1)}, "its b'data' holds values outside 0..255"),
    ({'data': np.zeros((2, 3072))}, "its b'data' holds float64 values, not 8-bit pixel levels"),
    ({'data': [[0] * 3072] * 2}, "its b'data' is a value of type list, not a numpy array of pixels"),
    ({'labels': [0, 'cat']}, f"its b'labels' holds 'cat', not a class index from 0 to 9 {CLASSES}"),
    ({'labels': [0, 1.0]}, f"its b'labels' holds 1.0, not a class index from 0 to 9 {CLASSES}"),
    ({'labels': [0, True]}, f"its b'labels' holds True, not a class index from 0 to 9 {CLASSES}"),
    ({'labels': [0, -1]}, f"its b'labels' holds -1, not a class index from 0 to 9 {CLASSES}"),
    ({'labels': [0, 10]}, f"its b'labels' holds 10, not a class index from 0 to 9 {CLASSES}"),
    ({'labels': [0, 10**30]}, f"its b'labels' holds a value of type int, not a class index from 0 to 9 {CLASSES}"),
    ({'labels': [0]}, "its b'labels' has length 1 but its b'data' has 2 rows, one per image"),
    ({'labels': [0, 1, 1]}, "its b'labels' has length 3 but its b'data' has 2 rows, one per image"),
    ({'labels': {0: 1}}, "its b'labels' is a value of type dict, not a list of class indices"),
])
def test_batch_contents(tmp_path, entries, why):
    d = write(tmp_path / 'c', batch(**entries))
    assert error(lambda: load_labels(d)) == f'{d}/data_batch_1 is not a CIFAR-10 batch: {why}'
    assert error(lambda: load_images(d)) == f'{d}/data_batch_1 is not a CIFAR-10 batch: {why}'


def test_batch_not_a_dict(tmp_path):
    d = write(tmp_path / 'c', [1, 2])
    assert error(lambda: load_images(d)) == f"{d}/data_batch_1 is not a CIFAR-10 batch: it holds a value of type list, not a dict with b'data'"
    d = write(tmp_path / 'e', {'data': np.zeros((1, 3072), np.uint8)})        # str keys, as Python 3 would write them
    assert error(lambda: load_images(d)) == f"{d}/data_batch_1 is not a CIFAR-10 batch: it has no b'data'"


def test_labels_in_some_batches_only(tmp_path):
    d = write(tmp_path / 'c', batch())
    b = batch(); del b[b'labels']
    write(d, b, 'data_batch_2')
    assert error(lambda: load_labels(d)) == (f"{d}/data_batch_2 has no b'labels' but data_batch_1 has: the labels would not line up "
                                             'with the images; give every batch its labels, or none')


def test_labels_beyond_the_meta_names(tmp_path):
    d = write(tmp_path / 'c', batch(labels=[0, 2]))
    write(d, {b'label_names': [b'cat', b'dog']}, 'batches.meta')
    assert error(lambda: class_names(d)) == (f"{d}/data_batch_1 is not a CIFAR-10 batch: its b'labels' holds 2, not a class index "
                                             'from 0 to 1 (batches.meta names 2 classes)')
    write(d, {b'label_names': [b'cat', b'dog', b'emu']}, 'batches.meta')
    assert class_names(d) == ('cat', 'dog', 'emu') and load_labels(d).tolist() == [0, 2]


@pytest.mark.parametrize('meta, why', [
    (b'garbage', 'is not a readable CIFAR-10 meta file (ValueError)'),
    ({b'names': [b'a']}, "is not a CIFAR-10 meta file: it has no b'label_names' list of class names"),
    ({b'label_names': [b'a', 3]}, "is not a CIFAR-10 meta file: it has no b'label_names' list of class names"),
    ({b'label_names': [b'\xff']}, 'is not a CIFAR-10 meta file: a class name is not UTF-8 text'),
])
def test_damaged_meta(tmp_path, meta, why):
    d = write(tmp_path / 'c', batch())
    write(d, meta, 'batches.meta')
    assert error(lambda: class_names(d)) == f'{d}/batches.meta {why}'


def test_batch_that_is_not_a_regular_file(tmp_path):
    (tmp_path / 'c' / 'data_batch_1').mkdir(parents=True)
    assert error(lambda: load_images(tmp_path / 'c')) == f'{tmp_path}/c/data_batch_1 is not a regular file'
    (tmp_path / 'p').mkdir(); os.mkfifo(tmp_path / 'p' / 'data_batch_1')                     # would block forever if opened
    assert error(lambda: load_images(tmp_path / 'p')) == f'{tmp_path}/p/data_batch_1 is not a regular file'


# --- class folders --------------------------------------------------------------------------------------

def png(path, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), 7, np.uint8)).save(path)


def test_empty_class_folder(tmp_path):
    for c in ('0', '1', '2', '4'): png(tmp_path / 'x' / c / 'a.png')
    (tmp_path / 'x' / '3').mkdir()
    (tmp_path / 'x' / '3' / 'notes.txt').write_text('not an image')
    want = (f"the class folder '{tmp_path}/x/3' holds no images; remove it or add images: "
            'the class indices follow the sorted folder names')
    assert error(lambda: load_labels(tmp_path / 'x')) == want
    assert error(lambda: load_images(tmp_path / 'x')) == want
    assert error(lambda: class_names(tmp_path / 'x')) == want


def test_images_beside_class_folders(tmp_path):
    for c in ('a', 'b', 'c'): png(tmp_path / 'x' / c / 'i.png')
    for i in range(12): png(tmp_path / 'x' / f'{i}.png')
    want = (f'{tmp_path}/x holds both images (12) and class subfolders (3): '
            'put the images in a class subfolder, or the subfolders elsewhere')
    assert error(lambda: load_images(tmp_path / 'x')) == want
    assert error(lambda: load_labels(tmp_path / 'x')) == want


def test_hidden_names_are_ignored(tmp_path):
    png(tmp_path / 'x' / 'cat' / 'a.png'); png(tmp_path / 'x' / 'dog' / 'b.png')
    (tmp_path / 'x' / '.cache').mkdir()                                     # empty, hidden: not a class
    png(tmp_path / 'x' / '.thumbs' / 't.png')                               # holds an image, hidden: not a class
    (tmp_path / 'x' / 'cat' / '._a.png').write_bytes(b'\x00\x05\x16\x07')   # a macOS resource file, not an image
    (tmp_path / 'x' / '.stray.png').write_bytes(b'not an image')
    assert load_images(tmp_path / 'x').shape == (2, 1, 8, 8)
    assert load_labels(tmp_path / 'x').tolist() == [0, 1] and class_names(tmp_path / 'x') == ('cat', 'dog')


def test_symlink_loops(tmp_path):
    png(tmp_path / 'x' / 'cat' / 'a.png'); png(tmp_path / 'x' / 'dog' / 'b.png')
    (tmp_path / 'x' / 'loop').symlink_to('loop')
    (tmp_path / 'x' / 'dog' / 'c.png').symlink_to('c.png')
    (tmp_path / 'x' / 'up').symlink_to('..')                                 # a folder above: a class folder without images
    assert error(lambda: load_labels(tmp_path / 'x')).startswith(f"the class folder '{tmp_path}/x/up' holds no images")
    (tmp_path / 'x' / 'up').unlink()
    assert load_labels(tmp_path / 'x').tolist() == [0, 1]
    (tmp_path / 'y').symlink_to('y')
    assert error(lambda: load_images(tmp_path / 'y')).startswith(f"data path '{tmp_path}/y' does not exist")


def test_image_decompression_bomb(tmp_path):
    "A PNG of 40 bytes claiming 100000 x 100000 pixels is refused by its header."
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    (tmp_path / 'x').mkdir()
    (tmp_path / 'x' / 'a.png').write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 100000, 100000, 8, 0, 0, 0, 0))
                                           + chunk(b'IEND', b''))
    assert error(lambda: load_images(tmp_path / 'x')).startswith(f'{tmp_path}/x/a.png is not a readable image (Image size (10000000000 pixels)')


def test_negative_size(tmp_path):
    from ddpm_lit.data import read_image_folder
    png(tmp_path / 'x' / 'a.png')
    assert error(lambda: load_images(tmp_path / 'x', size=-3)) == 'the image size must be a whole number of pixels, not -3'
    (tmp_path / 'empty').mkdir()
    assert error(lambda: read_image_folder(tmp_path / 'empty')) == f'{tmp_path}/empty holds no images (.png, .jpg, .jpeg, .bmp)'


# --- sizes in IDX headers -------------------------------------------------------------------------------

def idx(n, h, w): return struct.pack('>IIII', 0x803, n, h, w)


def test_idx_header_claims_a_huge_size(tmp_path):
    (tmp_path / 'train-images-idx3-ubyte').write_bytes(idx(2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(784))
    assert error(lambda: load_images(tmp_path)) == (f'{tmp_path}/train-images-idx3-ubyte is truncated: the header promises image of shape '
                                                    '(4294967295, 4294967295, 4294967295) but the file has 784 bytes of data')


def test_gzipped_idx_header_claims_more_than_gzip_can_hold(tmp_path):
    f = tmp_path / 'train-images-idx3-ubyte.gz'
    f.write_bytes(gzip.compress(idx(60000, 60000, 60000) + bytes(784)))
    size = f.stat().st_size
    assert error(lambda: load_images(tmp_path)) == (f'{f} is truncated: the header promises image of shape (60000, 60000, 60000) '
                                                    f'({60000**3} bytes), more than a gzip file of {size} bytes can hold')


def test_gzip_bomb_is_not_unpacked(tmp_path):
    "64 MiB of zeros behind a header that promises one image: reading stops after the promise, with little memory."
    f = tmp_path / 'train-images-idx3-ubyte.gz'
    with gzip.open(f, 'wb') as g:
        g.write(idx(1, 28, 28))
        for _ in range(64): g.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        msg = error(lambda: load_images(tmp_path))
        peak = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert msg == f'{f} has more data than the 784 bytes its header promises (image of shape (1, 28, 28))'
    assert peak < 4 << 20


def test_idx_with_more_data_than_promised(tmp_path):
    (tmp_path / 'train-images-idx3-ubyte').write_bytes(idx(1, 28, 28) + bytes(785))
    assert error(lambda: load_images(tmp_path)) == (f'{tmp_path}/train-images-idx3-ubyte has 785 bytes of data, more than the 784 '
                                                    'its header promises (image of shape (1, 28, 28))')


def test_idx_of_no_images(tmp_path):
    (tmp_path / 'train-images-idx3-ubyte').write_bytes(idx(0, 28, 28))
    (tmp_path / 'train-labels-idx1-ubyte').write_bytes(struct.pack('>II', 0x801, 0))
    assert load_images(tmp_path).shape == (0, 1, 28, 28) and load_labels(tmp_path).shape == (0,)
    assert class_names(tmp_path) == ()


def test_idx_that_leads_to_a_device_or_a_pipe(tmp_path):
    (tmp_path / 'z').mkdir(); (tmp_path / 'z' / 'train-images-idx3-ubyte').symlink_to('/dev/zero')
    assert error(lambda: load_images(tmp_path / 'z')) == f'{tmp_path}/z/train-images-idx3-ubyte is not a regular file'
    (tmp_path / 'zero-idx3-ubyte').symlink_to('/dev/zero')
    assert error(lambda: load_images(tmp_path / 'zero-idx3-ubyte')) == f'{tmp_path}/zero-idx3-ubyte is neither a regular file nor a folder'
    (tmp_path / 'p').mkdir(); os.mkfifo(tmp_path / 'p' / 'train-images-idx3-ubyte')
    assert error(lambda: load_images(tmp_path / 'p')) == f'{tmp_path}/p/train-images-idx3-ubyte is not a regular file'
