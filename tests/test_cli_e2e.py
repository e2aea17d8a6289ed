"""The three stages chained through their command lines, offline, as a user types them: discover (the tiny SDXL's own VAE)
-> generate (the tiny SDXL) -> evaluate. 'tiny' is a saved pipeline folder, loaded the way a hub id or a snapshot is."""
import os, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image

BIN = Path(sys.executable).parent

def _run(*args, env=None, ok=True):
    r = subprocess.run([shutil.which(args[0], path=str(BIN)), *map(str, args[1:])], capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    if ok: assert r.returncode == 0, f'{args[0]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r

def test_discover_generate_evaluate(tmp_path):
    env = dict(CODA_CACHE=str(tmp_path/'coda-cache'))   # where the tiny pipeline's folder is written once
    disc, gen, ev = tmp_path/'disc', tmp_path/'G', tmp_path/'eval'
    out = _run('coda_discover', '--dataset', 'digits', '--per_class', 20, '--ipc', 2, '--encoder', 'vae', '--model', 'tiny',
               '--resolution', 16, '--out', disc, '--cache', tmp_path/'cache', '--quiet', env=env).stdout
    assert '10 classes x IPC 2' in out
    man = pd.read_csv(disc/'manifest.csv')
    assert len(man) == 20 and man.groupby('class_index').row.nunique().tolist() == [2] * 10
    assert np.load(disc/'latents'/'0000.npy').shape == (2, 4, 8, 8)   # the tiny VAE: 16 px -> 8 x 8 latents, the UNet's input
    _run('coda_generate', disc, gen, '--model', 'tiny', '--steps', 3, '--size', 8, '--batch_size', 2, '--gamma', 0.1, env=env)
    pngs = sorted(p.relative_to(gen).as_posix() for p in gen.rglob('*.png'))
    assert pngs == [f'{c}/{j:03d}.png' for c in range(10) for j in range(2)]
    assert Image.open(gen/'0'/'000.png').size == (8, 8)
    g = pd.read_csv(gen/'manifest.csv')
    assert sorted(zip(g.class_index, g.j)) == [(c, j) for c in range(10) for j in range(2)]
    for name, folder in [('G', gen), ('R', disc/'R')]:
        _run('coda_evaluate', '--train', folder, '--dataset', 'digits', '--epochs', 1, '--seeds', '0', '--val_per_class', 5,
             '--out', ev, '--name', name, '--quiet')
        assert (ev/name/'convnet3'/'log.jsonl').read_text().count('\n') == 1      # the JSON lines go to the log, not stdout
    runs = list(ev.rglob('seed0.json'))
    assert len(runs) == 2, runs

def test_every_cli_has_version():
    for s in ('coda_discover', 'coda_generate', 'coda_evaluate', 'coda_reproduce'):
        r = _run(s, '--version')
        assert r.stdout.startswith('coda ') and r.stdout.strip() == _run('coda_discover', '--version').stdout.strip(), (s, r.stdout)

def test_generate_hub_id_offline_is_one_line(tmp_path):
    "A hub id that is neither a folder nor cached, with the network off: one line that says what to do, no traceback."
    disc = tmp_path/'disc'; (disc/'latents').mkdir(parents=True)
    np.save(disc/'latents'/'0000.npy', np.zeros((1, 4, 8, 8), np.float32))
    pd.DataFrame([dict(class_index=0, class_name='a', prompt='a', j=0)]).to_csv(disc/'manifest.csv', index=False)
    r = _run('coda_generate', disc, tmp_path/'G', '--model', 'no-such-org/no-such-sdxl', '--steps', 2,
             env=dict(HF_HUB_OFFLINE='1', HF_HOME=str(tmp_path/'hf')), ok=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()[-1:]
    assert line.startswith("coda_generate: error: SDXL pipeline 'no-such-org/no-such-sdxl' is not a local folder"), line
    assert 'HF_HUB_OFFLINE=1' in line and 'local folder' in line
