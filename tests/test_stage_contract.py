"""The stage contract (issue 9), as a user meets it at the command line: every output keyed by what it depends on
(parameters and content), claimed under a lock, replaced only when its replacement is complete, recorded with
its provenance, and readable by others under umask 022. Each test is one scenario of the issue."""
import os, shutil, subprocess, sys, time, json, hashlib
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image

BIN = Path(sys.executable).parent

def run(*args, cwd=None, umask=None, timeout=600):
    exe = shutil.which(args[0], path=str(BIN))
    assert exe, f'{args[0]} is not installed next to {sys.executable}'
    return subprocess.run([exe, *map(str, args[1:])], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          preexec_fn=None if umask is None else (lambda: os.umask(umask)))

def ok(r):
    assert r.returncode == 0, f'exit {r.returncode}\nstdout: {r.stdout[-3000:]}\nstderr: {r.stderr[-3000:]}'
    return r.stdout

def refused(r, prog, *parts):
    "Exit status 2 and one line `prog: error: ...` that holds every part."
    assert r.returncode == 2, f'exit {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}'
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f'{prog}: error: ') and 'Traceback' not in r.stderr, r.stderr[-3000:]
    for p in parts: assert p in last, (p, last)
    return last

def files(folder):
    "Relative name → bytes of every file under `folder` (hidden files left out)."
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file() and not p.name.startswith('.')}

def results(folder):
    "The result files of a discovery or generation folder (R/G PNGs, latents, manifest), the records left out."
    return {k: v for k, v in files(folder).items() if not k.endswith('.json')}

@pytest.fixture(scope='module')
def digits_folder(tmp_path_factory):
    "An ImageFolder of digits PNGs (3 classes x 24 images, 16 x 16), as a user would make one."
    from coda.data import load_digits_dataset
    ds, root = load_digits_dataset(), tmp_path_factory.mktemp('data')/'digits'
    for ci in range(3):
        for s in ds.sources(ci)[:24]:
            p = root/'train'/f'c{ci}'/f"{s.rsplit('/', 1)[1]}.png"; p.parent.mkdir(parents=True, exist_ok=True)
            ds.open(s).resize((16, 16)).save(p)
    return root

@pytest.fixture(scope='module')
def vae_dir(tmp_path_factory):
    import torch
    from coda.tiny import tiny_vae
    d = tmp_path_factory.mktemp('vae')/'vae'; torch.manual_seed(0); tiny_vae().save_pretrained(d)
    return d

def discover(root, out, cache, *extra, cwd=None, umask=None):
    return run('coda_discover', '--dataset', 'folder', '--root', root, '--ipc', 3, '--method', 'kmeans', '--encoder', 'pixel',
               '--out', out, '--cache', cache, '--quiet', *extra, cwd=cwd, umask=umask)

def patched_discover(tmp, patch:str, *argv):
    "Run coda_discover in a process where `patch` (Python source) has replaced parts of coda.pipeline first."
    script = tmp/f'patched{time.time_ns()}.py'
    script.write_text('import os, sys, time, signal, pathlib\nimport coda.pipeline as cp\n' + patch + '\n'
                      'from fastcore.script import anno_parser\n'
                      f"a = vars(anno_parser(cp.coda_discover, 'coda_discover').parse_args({[str(a) for a in argv]!r}))\n"
                      "cp.coda_discover(**{k: v for k, v in a.items() if k not in ('pdb', 'xtra')})\n")
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def disc_args(root, out, cache):
    return ['--dataset', 'folder', '--root', root, '--ipc', 3, '--method', 'kmeans', '--encoder', 'pixel', '--out', out, '--cache', cache, '--quiet']

# --- content keys: edited, renamed, re-saved -------------------------------------------------------------

def test_edited_image_is_refused_then_remade_as_a_fresh_run(tmp_path, digits_folder):
    root = tmp_path/'digits'; shutil.copytree(digits_folder, root)
    out, cache = tmp_path/'run', tmp_path/'cache'
    ok(discover(root, out, cache))
    victim = Path(pd.read_csv(out/'manifest.csv').source[4])                  # a picked image of class c1
    Image.fromarray(255 - np.asarray(Image.open(victim))).save(victim)       # edited in place, same name
    refused(discover(root, out, cache), 'coda_discover', 'differs in: content.c1', '--force')
    ok(discover(root, out, cache, '--force'))
    fresh = tmp_path/'fresh'; ok(discover(root, fresh, tmp_path/'cache2'))
    assert results(out) == results(fresh)                                   # R, latents and manifest: a fresh run's
    for r in pd.read_csv(out/'manifest.csv').itertuples():
        assert np.array_equal(np.asarray(Image.open(out/r.image)), np.asarray(Image.open(r.source)))

def test_resaved_vae_weights_make_new_latents(tmp_path, digits_folder, vae_dir):
    import torch
    from coda.tiny import tiny_vae
    vae = tmp_path/'vae'; shutil.copytree(vae_dir, vae)
    out, cache = tmp_path/'run', tmp_path/'cache'
    args = ('--encoder', 'vae', '--model', vae, '--resolution', 16)
    ok(discover(digits_folder, out, cache, *args))
    old = np.load(out/'latents'/'0001.npy')
    torch.manual_seed(1); tiny_vae().save_pretrained(vae)                   # other weights, the same folder
    refused(discover(digits_folder, out, cache, *args), 'coda_discover', 'differs in: encoder.model.sha256')
    ok(discover(digits_folder, out, cache, *args, '--force'))
    fresh = tmp_path/'fresh'; ok(discover(digits_folder, fresh, tmp_path/'cache2', *args))
    assert results(out) == results(fresh) and not np.array_equal(np.load(out/'latents'/'0001.npy'), old)

def test_renamed_file_never_gets_old_rows(tmp_path, digits_folder):
    root = tmp_path/'digits'; shutil.copytree(digits_folder, root)
    out, cache = tmp_path/'run', tmp_path/'cache'
    ok(discover(root, out, cache))
    victim = Path(pd.read_csv(out/'manifest.csv').source[1])
    victim.rename(victim.with_name('0renamed.png'))                          # sorts first: every later row shifts
    refused(discover(root, out, cache), 'coda_discover', 'differs in: content.c0')
    shutil.rmtree(cache)                                                    # and with the cache deleted
    refused(discover(root, out, cache), 'coda_discover', 'differs in: content.c0')
    ok(discover(root, out, cache, '--force'))
    for r in pd.read_csv(out/'manifest.csv').itertuples():                 # every R image is its source
        assert np.array_equal(np.asarray(Image.open(out/r.image)), np.asarray(Image.open(r.source)))

def test_relative_root_then_absolute_root_from_another_directory(tmp_path, digits_folder):
    shutil.copytree(digits_folder, tmp_path/'digits')
    out, cache = tmp_path/'run', tmp_path/'cache'
    ok(discover('digits', out, cache, cwd=tmp_path))                       # a relative root
    elsewhere = tmp_path/'elsewhere'; elsewhere.mkdir()
    ok(discover(tmp_path/'digits', out, cache, cwd=elsewhere))              # the same data, absolute, from elsewhere
    man = pd.read_csv(out/'manifest.csv')
    assert len([c for c in cache.iterdir() if not c.name.startswith('.')]) == 1 and all(Path(s).is_absolute() for s in man.source)
    for r in man.itertuples(): assert np.array_equal(np.asarray(Image.open(out/r.image)), np.asarray(Image.open(r.source)))

# --- generation keyed by its discovery run, dtype and model ------------------------------------------------

def test_generation_refuses_another_discovery_or_dtype(tmp_path, digits_folder, vae_dir):
    lat = ('--latent_resolution', 32, '--model', vae_dir)                  # 4 x 16 x 16 latents, the tiny SDXL's
    d1, d2, g, cache = tmp_path/'d1', tmp_path/'d2', tmp_path/'G', tmp_path/'cache'
    ok(discover(digits_folder, d1, cache, *lat)); ok(discover(digits_folder, d2, cache, *lat, '--method', 'random', '--seed', 1))
    gen = lambda d, *a: run('coda_generate', d, g, '--model', 'tiny', '--vae', '', '--steps', 2, '--size', 8, '--batch_size', 3, *a)
    assert '9 images generated' in ok(gen(d1))
    before = results(g)
    refused(gen(d2), 'coda_generate', 'differs in: upstream', '--force')
    refused(gen(d1, '--dtype', 'bfloat16'), 'coda_generate', 'differs in: dtype')
    assert results(g) == before and json.loads((g/'generate.json').read_text())['key']['upstream']['key'] is not None
    assert '9 images generated' in ok(gen(d2, '--force'))
    assert pd.read_csv(g/'manifest.csv').source.tolist() == pd.read_csv(d2/'manifest.csv').source.tolist()
    rec = json.loads((g/'generate.json').read_text())
    assert rec['provenance']['dtype'] == 'float32' and rec['key']['model']['model'] == dict(hub='tiny', revision=None)
    assert not (tmp_path/'G.partial').exists()

# --- locks, replacement, interruption ----------------------------------------------------------------------

def test_concurrent_force_is_refused_and_the_folder_stays_consistent(tmp_path, digits_folder):
    out, cache, started, go = tmp_path/'run', tmp_path/'cache', tmp_path/'started', tmp_path/'go'
    first = patched_discover(tmp_path, f'''real = cp.discover_classes
def waits(*a, **k):
    pathlib.Path({str(started)!r}).write_text('')
    while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.05)
    return real(*a, **k)
cp.discover_classes = waits''', *disc_args(digits_folder, out, cache), '--method', 'coda', '--n_neighbors', 5, '--min_cluster_size', 3)
    try:
        t0 = time.time()
        while not started.exists():
            assert first.poll() is None, first.communicate()
            assert time.time() - t0 < 300; time.sleep(0.1)
        refused(discover(digits_folder, out, cache, '--method', 'random', '--force'), 'coda_discover', 'in use by another process')
        refused(discover(digits_folder, out, cache, '--method', 'random'), 'coda_discover', 'differs in: method')
    finally:
        go.write_text('')
        o, e = first.communicate(timeout=600)
    assert first.returncode == 0, e[-3000:]
    rec, man = json.loads((out/'run.json').read_text()), pd.read_csv(out/'manifest.csv')
    assert rec['key']['method'] == 'coda' and set(man.method) == {'coda'} and len(man) == 9
    assert sorted(results(out)) == sorted(['manifest.csv'] + [f'latents/{c:04d}.npy' for c in range(3)]
                                          + [f'R/c{c}/{j:03d}.png' for c in range(3) for j in range(3)])

def test_force_keeps_the_finished_run_until_its_replacement_is_complete(tmp_path, digits_folder):
    out, cache = tmp_path/'run', tmp_path/'cache'
    ok(discover(digits_folder, out, cache)); before = files(out)
    p = patched_discover(tmp_path, 'def dies(*a, **k): os.kill(os.getpid(), signal.SIGKILL)\ncp.discover_classes = dies',
                         *disc_args(digits_folder, out, cache), '--method', 'random', '--force')
    p.communicate(timeout=600); assert p.returncode == -9
    assert files(out) == before and (tmp_path/'run.partial'/'run.json').exists()   # killed: the finished run untouched
    ok(discover(digits_folder, out, cache, '--method', 'random', '--force'))
    assert set(pd.read_csv(out/'manifest.csv').method) == {'random'} and not (tmp_path/'run.partial').exists()

def test_kill_during_discovery_resumes_at_the_next_class(tmp_path, digits_folder):
    out, cache = tmp_path/'run', tmp_path/'cache'
    p = patched_discover(tmp_path, '''real, n = cp.discover_classes, [0]
def third_kills(*a, **k):
    n[0] += 1
    if n[0] == 3: os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
cp.discover_classes = third_kills''', *disc_args(digits_folder, out, cache))
    p.communicate(timeout=600); assert p.returncode == -9
    sel = sorted((out/'selections').iterdir())
    assert [f.name for f in sel] == ['0000.json', '0001.json']             # the classes done before the kill
    mt = [f.stat().st_mtime_ns for f in sel]
    ok(discover(digits_folder, out, cache))
    assert [f.stat().st_mtime_ns for f in sel] == mt                        # not selected again
    whole = tmp_path/'whole'; ok(discover(digits_folder, whole, cache))
    picks = lambda d: [{k: v for k, v in json.loads(f.read_text()).items() if k != 'info'} for f in sorted((d/'selections').iterdir())]
    assert results(out) == results(whole) and picks(out) == picks(whole)   # (a selection's info holds timings)

# --- records: provenance, readable files ---------------------------------------------------------------------

def test_outputs_are_readable_under_umask_022_and_carry_provenance(tmp_path, digits_folder, vae_dir):
    d, g, ev, cache = tmp_path/'d', tmp_path/'G', tmp_path/'eval', tmp_path/'cache'
    ok(discover(digits_folder, d, cache, '--latent_resolution', 32, '--model', vae_dir, umask=0o022))
    ok(run('coda_generate', d, g, '--model', 'tiny', '--vae', '', '--steps', 2, '--size', 8, umask=0o022))
    ok(run('coda_evaluate', '--train', d/'R', '--dataset', 'folder', '--root', digits_folder, '--val_split', 'train', '--epochs', 1,
           '--seeds', 0, '--val_per_class', 2, '--out', ev, umask=0o022))
    made = [p for f in (d, g, ev, cache) for p in f.rglob('*') if p.is_file()]
    assert len(made) > 30
    bad = [(str(p), oct(p.stat().st_mode & 0o777)) for p in made if p.stat().st_mode & 0o044 != 0o044]
    assert not bad, bad
    prov = {'git_sha', 'git_dirty', 'versions', 'python', 'dataset', 'models', 'device', 'dtype'}
    recs = [d/'run.json', g/'generate.json', next(cache.glob('*/key.json')), next(ev.rglob('seed0.json'))]
    for f in recs:
        p = json.loads(f.read_text())['provenance']
        assert prov <= set(p) and {'torch', 'numpy', 'scikit-learn', 'diffusers', 'pandas'} <= set(p['versions']), (f, p)
    assert json.loads(recs[0].read_text())['provenance']['dataset']['root'] == str(digits_folder.resolve())

def test_evaluate_checks_its_output_folder_before_training(tmp_path, digits_folder):
    (tmp_path/'afile').write_text('')
    t0 = time.time()
    refused(run('coda_evaluate', '--train', digits_folder/'train', '--dataset', 'folder', '--root', digits_folder, '--val_split', 'train',
                '--out', tmp_path/'afile'), 'coda_evaluate', 'is a file, not a folder')
    assert time.time() - t0 < 120

# --- coda_reproduce: run names, smoke runs ----------------------------------------------------------------

TOY_NB = {'cells': [
    {'cell_type': 'code', 'id': 'p0', 'metadata': {'tags': ['parameters']}, 'execution_count': None, 'outputs': [],
     'source': "out_dir = 'x'\nsmoke = False\nx = 1"},
    {'cell_type': 'code', 'id': 'p1', 'metadata': {}, 'execution_count': None, 'outputs': [],
     'source': "from coda.paper import finish_run\nfinish_run(out_dir, dict(y=2*x, smoke=smoke))"}],
    'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5}

def test_reproduce_refuses_escaping_run_names_and_keeps_real_runs_from_smoke(tmp_path):
    (tmp_path/'toy.ipynb').write_text(json.dumps(TOY_NB))
    (tmp_path/'toy.yaml').write_text("name: toy\npaper: Table 0\nruns:\n  - name: x1\n    notebook: toy.ipynb\n    parameters: {x: 1}\n")
    rp = lambda *a: run('coda_reproduce', *a, '--results', tmp_path/'res', '--executor', 'inprocess', cwd=tmp_path)
    ok(rp('toy.yaml'))
    real = tmp_path/'res'/'toy'/'x1'; before = files(real)
    assert json.loads((real/'metrics.json').read_text()) == dict(y=2, smoke=False)
    assert {'git_sha', 'versions', 'device'} <= set(json.loads((real/'config.json').read_text())['provenance'])
    ok(rp('toy.yaml', '--smoke'))
    assert json.loads((tmp_path/'res'/'smoke'/'toy'/'x1'/'metrics.json').read_text()) == dict(y=2, smoke=True)
    assert files(real) == before                                            # the real run untouched
    (tmp_path/'bad.yaml').write_text("name: toy\nruns:\n  - name: ../x\n    notebook: toy.ipynb\n")
    refused(rp('bad.yaml'), 'coda_reproduce', "run name '../x' is not a plain folder name")
    assert not (tmp_path/'res'/'x').exists() and sorted(p.name for p in (tmp_path/'res').iterdir()) == ['smoke', 'toy']
