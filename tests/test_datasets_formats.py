"""Issue 29: CIFAR-10/100 and Tiny-ImageNet in their official distribution formats (the extracted folders and the
archives as downloaded, written here by the test in the exact layout and pickle keys) run through `coda_discover` and
`coda_evaluate` by name; `coda_export` writes a run as DD-Ranking's tensors, an ImageFolder and an npz that load back
with plain torch/numpy/PIL to the same pixels and labels; bad input stops before any work with one line and exit 2.
The console scripts run as pip installs them (a launcher file per `console_scripts` entry of settings.ini), from this checkout."""
import configparser, json, os, pickle, shutil, subprocess, sys, tarfile
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
FINE, COARSE = ['apple', 'aquarium_fish', 'bear', 'beaver', 'bed', 'bee'], ['fruit_and_vegetables', 'fish']
WNIDS = ['n01443537', 'n01629819', 'n01641577']
WORDS = 'n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander\nn01641577\tbullfrog, Rana catesbeiana\n'

# --- the official formats, tiny ---------------------------------------------------------------------------------

def _rows(labels, seed):
    "CIFAR rows: N×3072 uint8, each the R, G, B planes of a 32×32 image (noise, brighter red for higher labels)."
    x = np.random.default_rng(seed).integers(0, 200, (len(labels), 3, 1024), dtype=np.uint8)
    x[:, 0] += np.asarray(labels, np.uint8)[:, None] * 5
    return x.reshape(len(labels), 3072)

def _dump(path, obj): Path(path).write_bytes(pickle.dumps(obj, protocol=2))

def write_cifar10(folder, n=2):
    "cifar-10-batches-py/: batches.meta, data_batch_1..5 and test_batch, `n` images per class in each."
    d = Path(folder)/'cifar-10-batches-py'; d.mkdir(parents=True)
    _dump(d/'batches.meta', {b'label_names': [c.encode() for c in CIFAR10], b'num_cases_per_batch': 10*n, b'num_vis': 3072})
    for s, f in enumerate([f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']):
        lab = [c for _ in range(n) for c in range(10)]                         # interleaved, as in the real batches
        _dump(d/f, {b'batch_label': f.encode(), b'labels': lab, b'data': _rows(lab, s), b'filenames': [b'img.png']*len(lab)})
    return d

def write_cifar100(folder, n=3):
    "cifar-100-python/: meta, train and test with fine and coarse labels (6 fine classes in 2 superclasses here)."
    d = Path(folder)/'cifar-100-python'; d.mkdir(parents=True)
    _dump(d/'meta', {b'fine_label_names': [c.encode() for c in FINE], b'coarse_label_names': [c.encode() for c in COARSE]})
    for s, f in enumerate(['train', 'test']):
        fine = [c for _ in range(n) for c in range(len(FINE))]
        _dump(d/f, {b'filenames': [b'x.png']*len(fine), b'batch_label': f.encode(), b'fine_labels': fine,
                    b'coarse_labels': [c % 2 for c in fine], b'data': _rows(fine, 10 + s)})
    return d

def write_tiny(folder, n=3):
    "tiny-imagenet-200/: wnids.txt, words.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG + val_annotations.txt."
    d, rng, ann = Path(folder)/'tiny-imagenet-200', np.random.default_rng(0), []
    (d/'val'/'images').mkdir(parents=True); (d/'test'/'images').mkdir(parents=True)
    (d/'wnids.txt').write_text('\n'.join(reversed(WNIDS)) + '\n'); (d/'words.txt').write_text(WORDS)
    for w in WNIDS:
        (d/'train'/w/'images').mkdir(parents=True); (d/'train'/w/f'{w}_boxes.txt').write_text('')
        for i in range(n):
            im = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
            (im.convert('L') if i == 0 else im).save(d/'train'/w/'images'/f'{w}_{i}.JPEG')
            f = f'val_{len(ann)}.JPEG'; im.save(d/'val'/'images'/f); ann.append(f'{f}\t{w}\t0\t0\t63\t63')
    (d/'val'/'val_annotations.txt').write_text('\n'.join(ann) + '\n')
    return d

WRITERS = dict(cifar10=(write_cifar10, 'cifar-10-python.tar.gz'), cifar100=(write_cifar100, 'cifar-100-python.tar.gz'),
               tinyimagenet=(write_tiny, 'tiny-imagenet-200.zip'))

def pack(top:Path) -> Path:
    "The archive as downloaded beside `top` (tar.gz for CIFAR, zip for Tiny-ImageNet), the extracted folder removed."
    name = next(a for _, a in WRITERS.values() if a.startswith(top.name[:9]))
    if name.endswith('.zip'): shutil.make_archive(str(top.parent/top.name), 'zip', top.parent, top.name)
    else:
        with tarfile.open(top.parent/name, 'w:gz') as t: t.add(top, arcname=top.name)
    shutil.rmtree(top)
    return top.parent/name

def dataset(name, tmp_path, packed=False):
    "Write dataset `name` under tmp_path/data (packed: as its archive); the root to pass."
    top = WRITERS[name][0](tmp_path/'data')
    return pack(top) if packed else top

# --- the console scripts, as pip installs them ----------------------------------------------------------------------

def _entries():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    return dict(e.split('=') for e in cfg['DEFAULT']['console_scripts'].split())

def cli(tmp_path, prog, *args):
    "Run console script `prog` of this checkout the way its pip launcher does."
    mod, fn = _entries()[prog].split(':')
    exe = tmp_path/'bin'/prog; exe.parent.mkdir(exist_ok=True)
    exe.write_text(f"import sys\nfrom {mod} import {fn}\nif __name__ == '__main__':\n    sys.exit({fn}())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]), TQDM_DISABLE='1')
    return subprocess.run([sys.executable, str(exe), *map(str, args)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)

def ok(r):
    assert r.returncode == 0, f'exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r

def one_line_error(r, prog, *parts):
    "Exit status 2, no traceback, the last stderr line `prog: error: ...` holding every part."
    assert r.returncode == 2, f'exit {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}'
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f'{prog}: error: '), r.stderr[-3000:]
    for p in parts: assert p in last, (p, last)

# --- the readers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('packed', [False, True], ids=['folder', 'archive'])
def test_readers_read_the_official_layouts(tmp_path, packed):
    from coda.data import load_dataset
    c10 = load_dataset('cifar10', dataset('cifar10', tmp_path, packed), 'train')
    assert (c10.classes, c10.counts(), c10.images.shape) == (CIFAR10, [10]*10, (100, 32, 32, 3))
    rows = np.concatenate([_rows([c for _ in range(2) for c in range(10)], s) for s in range(5)])
    assert np.array_equal(c10.images, rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))     # channel-major planes -> HWC
    root = dataset('cifar100', tmp_path/'b', packed)
    assert load_dataset('cifar100', root, 'test').prompts[:2] == ['apple', 'aquarium fish']
    assert load_dataset('cifar100-coarse', root, 'val').counts() == [9, 9]
    tiny = load_dataset('tinyimagenet', dataset('tinyimagenet', tmp_path/'c', packed), 'val')
    assert (tiny.classes, tiny.prompts[0], tiny.counts()) == (WNIDS, 'goldfish', [3, 3, 3])
    assert tiny.open(load_dataset('tinyimagenet', tiny.store.path, 'train').sources(0)[0]).mode == 'RGB'   # a grey JPEG as RGB

# --- discover and evaluate by name -------------------------------------------------------------------------------

@pytest.mark.parametrize('name,packed', [('cifar10', False), ('cifar100', True), ('tinyimagenet', False), ('tinyimagenet', True)])
def test_discover_and_evaluate(tmp_path, name, packed):
    root, disc, ev = dataset(name, tmp_path, packed), tmp_path/'disc', tmp_path/'eval'
    r = ok(cli(tmp_path, 'coda_discover', '--dataset', name, '--root', root, '--ipc', 2, '--encoder', 'pixel',
               '--out', disc, '--cache', tmp_path/'cache', '--quiet'))
    from coda.data import load_dataset
    ds = load_dataset(name, root)
    assert f'{len(ds.classes)} classes x IPC 2' in r.stdout
    man = pd.read_csv(disc/'manifest.csv')
    assert len(man) == 2*len(ds.classes) and sorted(set(man.class_name)) == sorted(ds.classes)
    for row in man.itertuples():                                           # R holds the dataset's own pixels
        assert np.array_equal(np.asarray(Image.open(disc/row.image)), np.asarray(ds.open(row.source)))
    ok(cli(tmp_path, 'coda_evaluate', '--train', disc/'R', '--dataset', name, '--root', root, '--epochs', 1, '--seeds', '0',
           '--out', ev, '--name', 'R', '--quiet'))
    res = json.loads(next(ev.rglob('seed0.json')).read_text())
    assert 0 <= res['best'] <= 1, res

# --- export ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def cifar_run(tmp_path_factory):
    "A finished discovery run on the tiny CIFAR-10 (IPC 2), its soft labels beside it, and a generation-layout copy of R."
    from coda.pipeline import coda_discover
    tmp = tmp_path_factory.mktemp('run')
    root = dataset('cifar10', tmp, packed=True)
    coda_discover(dataset='cifar10', root=str(root), ipc=2, encoder='pixel', out=str(tmp/'disc'), cache=str(tmp/'cache'), quiet=True)
    np.save(tmp/'disc'/'soft_labels.npy', np.random.default_rng(0).random((20, 10)).astype(np.float32))
    man = pd.read_csv(tmp/'disc'/'manifest.csv')
    for row in man.itertuples():
        p = tmp/'G'/row.image[2:]; p.parent.mkdir(parents=True, exist_ok=True); shutil.copyfile(tmp/'disc'/row.image, p)
    man.assign(image=[i[2:] for i in man.image]).sample(frac=1, random_state=0).to_csv(tmp/'G'/'manifest.csv', index=False)
    return tmp

def _expected(run):
    "Pixels (N×32×32×3) and labels of a run in class-major order, read with PIL from its manifest."
    man = pd.read_csv(run/'manifest.csv').sort_values(['class_index', 'j'])
    return np.stack([np.asarray(Image.open(run/i)) for i in man.image]), man.class_index.to_numpy(), man

@pytest.mark.parametrize('run', ['disc', 'G'])
def test_export_ddranking_round_trip(cifar_run, tmp_path, run):
    out = tmp_path/'dd'
    ok(cli(tmp_path, 'coda_export', cifar_run/run, '--format', 'ddranking', '--out', out, '--normalize', 'cifar10'))
    x, y, man = _expected(cifar_run/run)
    meta = json.loads((out/'ddranking.json').read_text())
    t, lab = torch.load(out/'images.pt'), torch.load(out/'labels.pt')
    assert t.dtype == torch.float32 and t.shape == (20, 3, 32, 32) and meta['shape'] == [20, 3, 32, 32]
    back = t * torch.tensor(meta['std']).view(1, 3, 1, 1) + torch.tensor(meta['mean']).view(1, 3, 1, 1)
    assert np.array_equal((back * 255).round().byte().permute(0, 2, 3, 1).numpy(), x)
    assert lab.tolist() == y.tolist() == [c for c in range(10) for _ in range(2)]        # class-major, IPC consecutive per class
    assert meta['classes'] == CIFAR10 and meta['normalize'] == 'cifar10' and meta['set'] == ('R' if run == 'disc' else 'G')
    if run == 'disc':
        soft = np.load(cifar_run/'disc'/'soft_labels.npy')
        assert np.array_equal(torch.load(out/'soft_labels.pt').numpy(), soft)
    else: assert not (out/'soft_labels.pt').exists() and meta['soft_labels'] is None

def test_export_imagefolder_and_npz_round_trip(cifar_run, tmp_path):
    x, y, man = _expected(cifar_run/'disc')
    ok(cli(tmp_path, 'coda_export', cifar_run/'disc'/'R', '--format', 'imagefolder', '--out', tmp_path/'if'))
    classes = sorted(p.name for p in (tmp_path/'if'/'train').iterdir())                 # torchvision's ImageFolder numbering
    idx = json.loads((tmp_path/'if'/'classes.json').read_text())
    got = [(idx[c], np.asarray(Image.open(f))) for c in classes for f in sorted((tmp_path/'if'/'train'/c).glob('*.png'))]
    assert classes == sorted(CIFAR10) and [i for i, _ in got] == y.tolist()
    assert np.array_equal(np.stack([a for _, a in got]), x)
    ok(cli(tmp_path, 'coda_export', cifar_run/'G', '--format', 'npz', '--out', tmp_path/'set.npz'))
    with np.load(tmp_path/'set.npz', allow_pickle=False) as z:
        assert np.array_equal(z['images'], x) and z['labels'].tolist() == y.tolist() and z['class_names'].tolist() == CIFAR10

# --- bad input: one line, exit 2, before any work -------------------------------------------------------------------

def _no_work(tmp_path):
    assert not (tmp_path/'disc').exists() and not (tmp_path/'cache').exists() and not (tmp_path/'eval').exists()

def _discover(tmp_path, name, root, *extra):
    return cli(tmp_path, 'coda_discover', '--dataset', name, '--root', root, '--ipc', 1, '--encoder', 'pixel',
               '--out', tmp_path/'disc', '--cache', tmp_path/'cache', '--quiet', *extra)

def test_missing_batch_file(tmp_path):
    root = dataset('cifar10', tmp_path); (root/'data_batch_3').unlink()
    one_line_error(_discover(tmp_path, 'cifar10', root), 'coda_discover', f'{root}/data_batch_3: no such file'); _no_work(tmp_path)

def test_truncated_pickle(tmp_path):
    root = dataset('cifar100', tmp_path); (root/'test').write_bytes((root/'test').read_bytes()[:500])
    r = cli(tmp_path, 'coda_evaluate', '--random', 1, '--dataset', 'cifar100', '--root', root, '--out', tmp_path/'eval', '--quiet')
    one_line_error(r, 'coda_evaluate', f'{root}/test: truncated or not a CIFAR pickle'); _no_work(tmp_path)

def test_label_outside_the_classes(tmp_path):
    root = dataset('cifar10', tmp_path)
    b = pickle.loads((root/'data_batch_2').read_bytes(), encoding='bytes'); b[b'labels'][4] = 12; _dump(root/'data_batch_2', b)
    one_line_error(_discover(tmp_path, 'cifar10', root), 'coda_discover', f'{root}/data_batch_2: label 12 outside the 10 classes'); _no_work(tmp_path)

def test_truncated_archive(tmp_path):
    arc = dataset('cifar10', tmp_path, packed=True); arc.write_bytes(arc.read_bytes()[:3000])
    one_line_error(_discover(tmp_path, 'cifar10', arc), 'coda_discover', f'{arc}: a damaged or truncated archive'); _no_work(tmp_path)

def test_val_annotation_outside_the_classes(tmp_path):
    root = dataset('tinyimagenet', tmp_path)
    with open(root/'val'/'val_annotations.txt', 'a') as f: f.write('val_0.JPEG\tn99999999\t0\t0\t1\t1\n')
    one_line_error(_discover(tmp_path, 'tinyimagenet', root, '--split', 'val'), 'coda_discover',
                   "val_annotations.txt line 10: class 'n99999999' is not one of the 3 classes of wnids.txt"); _no_work(tmp_path)

def test_dataset_not_there(tmp_path):
    one_line_error(_discover(tmp_path, 'tinyimagenet', tmp_path/'nowhere'), 'coda_discover', 'tinyimagenet not found in', 'tiny-imagenet-200.zip')
    _no_work(tmp_path)

def test_export_bad_input(cifar_run, tmp_path):
    one_line_error(cli(tmp_path, 'coda_export', tmp_path), 'coda_export', f'{tmp_path} holds no manifest.csv')
    one_line_error(cli(tmp_path, 'coda_export', cifar_run/'G', '--format', 'tfrecord'), 'coda_export', "format='tfrecord': must be one of ddranking")
    (tmp_path/'x.npz').write_bytes(b'old')
    one_line_error(cli(tmp_path, 'coda_export', cifar_run/'G', '--format', 'npz', '--out', tmp_path/'x.npz'), 'coda_export', 'x.npz exists: pass --force')
    assert (tmp_path/'x.npz').read_bytes() == b'old'
    run = tmp_path/'G'; shutil.copytree(cifar_run/'G', run); next(run.rglob('*.png')).unlink()
    one_line_error(cli(tmp_path, 'coda_export', run, '--out', tmp_path/'dd'), 'coda_export', 'no such file (listed in')
    assert not (tmp_path/'dd').exists()

def test_export_has_version(tmp_path):
    r = ok(cli(tmp_path, 'coda_export', '--version'))
    assert r.stdout.startswith('coda ')

def test_cifar_experiments_are_gpu_ready():
    "IPC 10 and 50 on a GPU, each run's settings the FIELD_SETTINGS row (tests/test_experiments.py checks them all); an offline smoke block."
    from coda.reproduce import load_experiment
    for name in ('cifar10', 'cifar100'):
        e = load_experiment(name, ROOT)
        assert sorted(r['parameters']['ipc'] for r in e['runs']) == [10, 50] and all(r['gpu'] for r in e['runs'])
        assert all(r['parameters']['dataset'] == name for r in e['runs']) and e['smoke']['dataset'] == 'digits'
