"""More than one process or machine, with the real launchers and engines.

Generation under `torchrun --nproc_per_node 2` and `accelerate launch --num_processes 2` (CPU: no GPU, no process
group needed, each rank reads RANK/WORLD_SIZE) writes byte for byte the set one process writes, each rank doing
its own batches. Discovery on a Dask `LocalCluster` of 2 worker processes (and on a local Ray, where it is
installed) picks what the sequential run picks.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd
import pytest

BIN = Path(sys.executable).parent
GEN = ['--model', 'tiny', '--steps', '2', '--size', '8', '--batch_size', '2']   # 9 images in batches of 2: shards of 5 and 4


def _env(tmp):
    return dict(os.environ, CODA_CACHE=str(tmp/'coda-cache'), OMP_NUM_THREADS='1', TQDM_DISABLE='1', HF_HUB_OFFLINE='1')


def _run(args, tmp, timeout=900):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=_env(tmp), cwd=tmp, timeout=timeout)
    assert r.returncode == 0, f'{args[0]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r.stdout + r.stderr


def _discovery(d):
    "A discovery folder of 3 classes x 3 representatives with tiny-SDXL-shaped latents (4, 8, 8)."
    (d/'latents').mkdir(parents=True)
    for c in range(3): np.save(d/'latents'/f'{c:04d}.npy', np.random.default_rng(c).standard_normal((3, 4, 8, 8)).astype(np.float32))
    pd.DataFrame([dict(class_index=c, class_name=n, prompt=f'a photo of a {n}', j=j) for c, n in enumerate('abc') for j in range(3)]
                 ).to_csv(d/'manifest.csv', index=False)
    return d


def _files(d):
    "Every file of a generated set but its record's creation time: relative name -> bytes."
    out = {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob('*')) if p.is_file() and p.name != 'generate.json'}
    out['generate.json:key'] = json.dumps(json.loads((d/'generate.json').read_text())['key'], sort_keys=True).encode()
    return out


@pytest.fixture(scope='module')
def one_process(tmp_path_factory):
    "The reference: the set that one process generates."
    tmp = tmp_path_factory.mktemp('multi')
    disc = _discovery(tmp/'disc')
    out = _run([BIN/'coda_generate', disc, tmp/'G1', *GEN], tmp)
    assert 'this shard: 9 of 9' in out
    return tmp, disc, _files(tmp/'G1')


def _shards(out):
    return sorted(int(m) for m in re.findall(r'this shard: (\d+) of 9', out))


def test_torchrun_two_processes_equal_one(one_process):
    tmp, disc, ref = one_process
    out = _run([BIN/'torchrun', '--nproc_per_node', 2, '--no-python', BIN/'coda_generate', disc, tmp/'G_torchrun', *GEN], tmp)
    assert _shards(out) == [4, 5], out[-2000:]                   # each rank did its own batches
    assert _files(tmp/'G_torchrun') == ref


def test_accelerate_two_processes_equal_one(one_process):
    pytest.importorskip('accelerate')
    tmp, disc, ref = one_process
    # without a GPU, accelerate starts 2 processes only through its torchrun launcher, which it names --multi_gpu
    # (with --cpu, or with neither flag on a machine without GPUs, it starts one process that does all 9 images)
    out = _run([BIN/'accelerate', 'launch', '--multi_gpu', '--num_processes', 2, '--num_machines', 1, '--mixed_precision', 'no',
                '--dynamo_backend', 'no', '--no_python', BIN/'coda_generate', disc, tmp/'G_accelerate', *GEN], tmp)
    assert _shards(out) == [4, 5], out[-2000:]
    assert _files(tmp/'G_accelerate') == ref


def _discover(tmp, out, *extra):
    return _run([BIN/'coda_discover', '--dataset', 'digits', '--per_class', 40, '--ipc', 3, '--classes', '0,1,2',
                 '--out', tmp/out, '--cache', tmp/'cache', '--quiet', *extra], tmp)


@pytest.mark.slow   # UMAP's numba code is compiled again in each worker process: a minute or more on 2 cores
def test_dask_local_cluster_picks_equal_sequential(tmp_path):
    pytest.importorskip('distributed')
    _discover(tmp_path, 'seq')
    _discover(tmp_path, 'dask', '--backend', 'dask', '--n_jobs', 2)    # a LocalCluster of 2 worker processes
    a, b = pd.read_csv(tmp_path/'seq'/'manifest.csv'), pd.read_csv(tmp_path/'dask'/'manifest.csv')
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 9 and a.groupby('class_index').row.nunique().tolist() == [3, 3, 3]


def test_dask_scheduler_address(tmp_path):
    "A user's own scheduler, by address: the classes run on its workers (PCA space here: no numba compile)."
    distributed = pytest.importorskip('distributed')
    from coda.methods import discover_classes
    from coda.pipeline import engine
    rng = np.random.default_rng(0)
    feats = [np.concatenate([rng.normal(m, 1, (40, 16)) for m in (0, 6)]).astype(np.float32) for _ in range(3)]
    kw = dict(ipc=4, reduce='pca', n_components=5, min_cluster_size=5, progress=False)
    seq = discover_classes(feats, n_jobs=1, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with engine('dask', cl.scheduler_address, n_jobs=2):
            assert distributed.default_client().scheduler.address == cl.scheduler_address
            par = discover_classes(feats, n_jobs=2, backend='dask', **kw)
    assert [s.indices.tolist() for s in par] == [s.indices.tolist() for s in seq]
    assert [s.origins for s in par] == [s.origins for s in seq]


@pytest.mark.slow   # starting Ray takes tens of seconds
def test_ray_picks_equal_sequential():
    pytest.importorskip('ray')
    from coda.methods import discover_classes
    from coda.pipeline import engine
    rng = np.random.default_rng(1)
    feats = [np.concatenate([rng.normal(m, 1, (40, 16)) for m in (0, 6)]).astype(np.float32) for _ in range(2)]
    kw = dict(ipc=4, reduce='pca', n_components=5, min_cluster_size=5, progress=False)
    seq = discover_classes(feats, n_jobs=1, **kw)
    with engine('ray', n_jobs=2): par = discover_classes(feats, n_jobs=2, backend='ray', **kw)
    assert [s.indices.tolist() for s in par] == [s.indices.tolist() for s in seq]


def test_missing_engine_is_one_line(tmp_path, monkeypatch):
    "Without the package a backend needs, coda_discover stops before any work with the pip command to run."
    from coda.core import UserError
    import coda.pipeline as cp
    monkeypatch.setitem(cp.ENGINES, 'dask', ('no_such_module_xyz', 'coda[multi]'))
    with pytest.raises(UserError, match=r"backend='dask' needs no_such_module_xyz, which is not installed: pip install 'coda\[multi\]'"):
        cp.check_backend('dask')
