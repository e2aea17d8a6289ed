"The three stages chained through their command lines: discover (VAE latents) -> generate (tiny SDXL) -> evaluate."
import shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image

BIN = Path(sys.executable).parent

def _run(*args):
    r = subprocess.run([shutil.which(args[0], path=str(BIN)), *map(str, args[1:])], capture_output=True, text=True)
    assert r.returncode == 0, f'{args[0]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r.stdout

def test_discover_generate_evaluate(tmp_path):
    from coda.tiny import tiny_vae
    vae_dir = tmp_path/'vae'; tiny_vae().save_pretrained(vae_dir)   # a local "hub folder" for the VAE
    disc, gen, ev = tmp_path/'disc', tmp_path/'G', tmp_path/'eval'
    out = _run('coda_discover', '--dataset', 'digits', '--per_class', 20, '--ipc', 2, '--encoder', 'vae',
               '--model', vae_dir, '--resolution', 32, '--out', disc, '--cache', tmp_path/'cache', '--quiet')
    assert '10 classes x IPC 2' in out
    man = pd.read_csv(disc/'manifest.csv')
    assert len(man) == 20 and man.groupby('class_index').row.nunique().tolist() == [2] * 10
    assert np.load(disc/'latents'/'0000.npy').shape == (2, 4, 16, 16)   # tiny VAE: 32 px -> 16 x 16 latents
    _run('coda_generate', disc, gen, '--model', 'tiny', '--vae', '', '--steps', 3, '--size', 8, '--batch_size', 2, '--gamma', 0.1)
    pngs = sorted(p.relative_to(gen).as_posix() for p in gen.rglob('*.png'))
    assert pngs == [f'{c}/{j:03d}.png' for c in range(10) for j in range(2)]
    assert Image.open(gen/'0'/'000.png').size == (8, 8)
    g = pd.read_csv(gen/'manifest.csv')
    assert sorted(zip(g.class_index, g.j)) == [(c, j) for c in range(10) for j in range(2)]
    for name, folder in [('G', gen), ('R', disc/'R')]:
        _run('coda_evaluate', '--train', folder, '--dataset', 'digits', '--epochs', 1, '--seeds', '0', '--val_per_class', 5,
             '--out', ev, '--name', name)
    runs = list(ev.rglob('seed0.json'))
    assert len(runs) == 2, runs
