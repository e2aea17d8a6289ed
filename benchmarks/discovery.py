"""Discovery benchmark: per-stage time of the reference chain and the speedup of `discover_classes` over workers.

Data: per class a fixed-seed Gaussian mixture (5 components) in `dim` dimensions with 10% outliers from a
broad Gaussian, float32, `n` rows per class. Passes:
  1. sequential, cold (first UMAP call in this process includes the numba compile): per-stage times;
  2. sequential, warm: T1;
  3. N workers of `--backend` (loky processes by default; `dask`: a LocalCluster of N worker processes, or the
     cluster at `--scheduler`), fresh (each worker compiles numba once): Tn cold;
  4. the same N workers again, reused (warm): Tn.
speedup = T1 / Tn (warm against warm); identical = picks and origins equal in every pass.
The last line is exactly `workers <N> speedup <x.xx> identical <True|False>`.

    python benchmarks/discovery.py                                   # 10 classes x 1300 x 4096
    python benchmarks/discovery.py --classes 4 --n 500 --dim 512     # quick
    python benchmarks/discovery.py --backend dask                    # the same on a Dask LocalCluster
    python benchmarks/discovery.py --backend dask --scheduler tcp://host:8786   # on a running Dask cluster
"""
import argparse, os, time
import numpy as np


def make_class(c, n, dim, seed=0, k=5, outliers=0.1):
    "One class: a k-component Gaussian mixture plus a fraction of broad outliers, fixed seed."
    r = np.random.default_rng([seed, c])
    means = r.normal(0, 1, (k, dim)) * 3
    n_out = int(round(n * outliers)); n_in = n - n_out
    comp = r.integers(0, k, n_in)
    x_in = means[comp] + r.normal(0, 1, (n_in, dim)) * r.uniform(0.5, 1.5, k)[comp, None]
    x_out = r.normal(0, 1, (n_out, dim)) * 6
    return np.concatenate([x_in, x_out]).astype(np.float32)[r.permutation(n)]


def same(a, b):
    return all(np.array_equal(x.indices, y.indices) and x.origins == y.origins for x, y in zip(a, b))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--n', type=int, default=1300)
    p.add_argument('--dim', type=int, default=4096)
    p.add_argument('--ipc', type=int, default=10)
    p.add_argument('--n-neighbors', type=int, default=85)
    p.add_argument('--min-cluster-size', type=int, default=55)
    p.add_argument('--workers', type=int, default=os.cpu_count())
    p.add_argument('--backend', default='loky', help='joblib backend of the parallel passes: loky | dask | ray | threading')
    p.add_argument('--scheduler', default=None, help='dask/ray: address of a running cluster (default: a local one of --workers)')
    a = p.parse_args()
    from coda.methods import discover_classes
    from coda.pipeline import engine
    kw = dict(ipc=a.ipc, n_neighbors=a.n_neighbors, min_cluster_size=a.min_cluster_size, progress=False)
    data = [make_class(c, a.n, a.dim) for c in range(a.classes)]
    print(f'{a.classes} classes x {a.n} rows x {a.dim} dims, IPC {a.ipc}, n_neighbors {a.n_neighbors}, '
          f'min_cluster_size {a.min_cluster_size}, cpu_count {os.cpu_count()}')

    t = time.perf_counter(); cold = discover_classes(data, n_jobs=1, **kw); t_cold = time.perf_counter() - t
    st = {k: [s.info['time'][k] for s in cold] for k in ('scaler', 'reduce')}
    st['hdbscan'] = [s.info['time_hdbscan'] for s in cold]; st['post'] = [s.info['time_post'] for s in cold]
    print(f"stage      total_s  per_class_s (sequential, cold pass {t_cold:.1f} s)")
    print(f"scaler     {sum(st['scaler']):7.2f}  {np.mean(st['scaler']):.3f}")
    print(f"umap       {sum(st['reduce']):7.2f}  {np.mean(st['reduce'][1:] or st['reduce']):.3f}  "
          f"(first call incl. numba compile {st['reduce'][0]:.2f} s)")
    print(f"hdbscan    {sum(st['hdbscan']):7.2f}  {np.mean(st['hdbscan']):.3f}")
    print(f"post       {sum(st['post']):7.2f}  {np.mean(st['post']):.3f}")
    print('M', [s.info['M'] for s in cold], 'noise', [s.info['n_noise'] for s in cold])
    print('strategies', [s.info['strategy'] for s in cold], 'fallback', sum(s.info['fallback'] for s in cold))

    t = time.perf_counter(); seq = discover_classes(data, n_jobs=1, **kw); t1 = time.perf_counter() - t
    with engine(a.backend, a.scheduler, a.workers):   # a Dask/Ray cluster is up before the timer starts
        pkw = dict(kw, n_jobs=a.workers, backend=a.backend)
        t = time.perf_counter(); par_cold = discover_classes(data, **pkw); tn_cold = time.perf_counter() - t
        t = time.perf_counter(); par = discover_classes(data, **pkw); tn = time.perf_counter() - t
    ident = same(cold, seq) and same(seq, par_cold) and same(seq, par)
    print(f'1 worker (warm) {t1:.1f} s; {a.workers} {a.backend} workers: fresh {tn_cold:.1f} s (speedup {t1/tn_cold:.2f}), '
          f'reused {tn:.1f} s; linear would be {t1/a.workers:.1f} s; efficiency {t1/tn/a.workers:.2f}')
    print(f'load average during the run (other processes share the CPUs): {os.getloadavg()[0]:.2f}')
    print(f'workers {a.workers} speedup {t1/tn:.2f} identical {ident}')


if __name__ == '__main__':
    main()
