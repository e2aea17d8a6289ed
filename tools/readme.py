"""Write README.md from nbs/index.ipynb (its markdown cells, in order): `python tools/readme.py [--check]`.
nbdev_readme needs Quarto; this is the same text without it. `--check` exits 1 if README.md is stale.

Result tables are never typed by hand: a line `<!-- table: offline ipc=10 -->` becomes the IPC-10 rows of
`results/offline/summary.csv` (with its dataset, protocol, n and test-set size), and `<!-- table: mini -->`
the main job's `results/mini/main/table.md` with its measured wall time. `render(committed=True)` reads those
files as committed (`git show HEAD:…`), so a user's own `make mini` does not make the README look stale."""
import io, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

class _Files:
    "Result files from the working tree, or as committed at HEAD."
    def __init__(self, committed=False): self.committed = committed
    def read(self, rel):
        if not self.committed: return (ROOT/rel).read_text() if (ROOT/rel).exists() else None
        r = subprocess.run(['git', 'show', f'HEAD:{rel}'], cwd=ROOT, capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None
    def subdirs(self, rel):
        if not self.committed: return sorted(p.name for p in (ROOT/rel).iterdir() if p.is_dir()) if (ROOT/rel).is_dir() else []
        r = subprocess.run(['git', 'ls-tree', '-d', '--name-only', f'HEAD:{rel}'], cwd=ROOT, capture_output=True, text=True)
        return sorted(r.stdout.split()) if r.returncode == 0 else []

def _commits(runs, cfg):
    "Each run's commit (runs are committed one by one, so one sha would depend on which run is listed first)."
    shas = {r: (c.get('git_sha') or '?')[:10] for r, c in zip(runs, cfg)}
    if len(set(shas.values())) <= 1: return f"commit {next(iter(shas.values()), '?')}"
    return 'commits ' + ', '.join(f'{r} {s}' for r, s in shas.items())

def _offline(fs, ipcs):
    import pandas as pd
    from coda.offline import summary_markdown
    d = 'results/offline'; csv = fs.read(f'{d}/summary.csv')
    if csv is None: return '*(the offline table has not been run yet: `coda_reproduce offline`)*'
    s, env = pd.read_csv(io.StringIO(csv)), json.loads(fs.read(f'{d}/environment.json'))
    runs = [r for r in fs.subdirs(d) if fs.read(f'{d}/{r}/metrics.json')]
    meta = [json.loads(fs.read(f'{d}/{r}/metrics.json')) for r in runs]
    cfg = [json.loads(fs.read(f'{d}/{r}/config.json')) for r in runs]
    n_test = sorted({m.get('n_test') for m in meta if m.get('n_test')})
    head = (f"{', '.join(env['datasets'])}; DC protocol (ConvNet-3 width 32, 300 epochs); test set "
            f"{', '.join(map(str, n_test))} images; n = seeds per row; {_commits(runs, cfg)}; "
            f"from `results/offline/summary.csv`.\n\n")
    return head + summary_markdown(s, ipcs).strip()

def _anchors(fs):
    "Random per IPC of the offline summary against DC's published numbers (coda.offline.anchor_check)."
    import pandas as pd
    from coda.offline import anchor_check, ANCHOR_TOL, _pm
    csv = fs.read('results/offline/summary.csv')
    if csv is None: return '*(the offline table has not been run yet: `coda_reproduce offline`)*'
    a = anchor_check(pd.read_csv(io.StringIO(csv)))
    rows = [f"| {r.ipc} | {r.n} | {_pm(r.acc_mean, r.acc_std)} | {r.anchor:.1f} | {r.diff:+.1f} | "
            f"{'yes' if r.within else 'no'} |" for r in a.itertuples()]
    return '\n'.join([f'| IPC | n | Random (last) % | DC anchor % | difference | within ±{ANCHOR_TOL} |',
                      '|---|---|---|---|---|---|', *rows])

BEYOND = ('coda_improved', 'coda_auto', 'coda_improved_auto')

def _beyond(fs):
    "Issue 13's rows per IPC: accuracy, and the paired differences to K-Means and to CoDA R (reference), from the summary files."
    import pandas as pd
    from coda.offline import METHOD_LABELS, _pm, _dcell
    s, c = (fs.read(f'results/offline/{f}') for f in ('summary.csv', 'comparisons.csv'))
    if s is None or c is None: return '*(the beyond-the-paper rows have not been run yet: `coda_reproduce offline`)*'
    s, c = pd.read_csv(io.StringIO(s)), pd.read_csv(io.StringIO(c))
    def cell(a, b, ipc):
        t = c[(c.a == a) & (c.b == b) & (c.ipc == ipc)]
        return _dcell(t['diff'].iloc[0], t.diff_std.iloc[0], t.p_t.iloc[0], int(t.n.iloc[0])) if len(t) else '–'
    rows = ['| IPC | method | n | accuracy (last) % | − K-Means | − CoDA R (reference) |', '|---|---|---|---|---|---|']
    for r in s[s.method.isin(BEYOND)].sort_values('ipc', kind='stable').itertuples():
        rows.append(f'| {r.ipc} | {METHOD_LABELS.get(r.method, r.method)} | {r.n} | {_pm(r.acc_mean, r.acc_std)} | '
                    f'{cell(r.method, "kmeans", r.ipc)} | {cell(r.method, "coda_reference", r.ipc)} |')
    return '\n'.join(rows)

def _grid(fs, d='results/auto_grid'):
    "Issue 13's validation: per IPC, how the unsupervised criteria rank the n_neighbors x min_cluster_size grid, and where auto lands."
    runs = [(r, json.loads(m)) for r in fs.subdirs(d) if (m := fs.read(f'{d}/{r}/metrics.json'))]
    if not runs: return '*(the grid validation has not been run yet: `coda_reproduce auto_grid`)*'
    f = lambda v, k='.2f': '–' if v is None else format(v, k)
    from coda.offline import _dcell
    d_ = lambda m, k: '–' if m.get(f'auto-{k}') is None else _dcell(m[f'auto-{k}'], m[f'auto-{k}.std'], m[f'auto-{k}.p'])
    rows = ['| IPC | seeds | cells | Spearman ρ (p): coverage / radius / MMD | auto (validation %) | grid best / median / worst | auto rank '
            '| auto − best cell (paired) | auto − mean of cells (paired) |', '|---|---|---|---|---|---|---|---|---|']
    pv = lambda v: '< 0.001' if v is not None and v < 0.001 else f(v, '.3f')
    for r, m in sorted(runs, key=lambda x: x[1]['ipc']):
        rho = ' / '.join(f"{f(m.get(f'rho.{c}'))} ({pv(m.get(f'p.{c}'))})" for c in ('coverage', 'radius', 'mmd'))
        rows.append(f"| {m['ipc']} | {m['n_seeds']} | {m['n_cells']} | {rho} | {f(m['auto'], '.1f')} ± {f(m.get('auto_std'), '.1f')} | "
                    f"{f(m['grid_best'], '.1f')} / {f(m['grid_median'], '.1f')} / {f(m['grid_worst'], '.1f')} | {m['auto_rank']} of {m['n_cells'] + 1} | "
                    f"{d_(m, 'best')} | {d_(m, 'mean')} |")
    m = runs[0][1]
    return (f"{m['dataset']}, validation split of {m['n_val']} training images (never the test set), criterion "
            f"`{m['criterion']}` for auto, variant `{m['variant']}`; from `{d}/ipc*/metrics.json`.\n\n" + '\n'.join(rows))

def _mini(fs):
    d = 'results/mini/main'; table, met = fs.read(f'{d}/table.md'), fs.read(f'{d}/metrics.json')
    if table is None or met is None: return '*(not run yet: `make mini`)*'
    m = json.loads(met)
    return (f"{m['dataset']}, IPC 10, n = {m['n_seeds']} seeds, test set {m['n_test']} images, DC protocol; "
            f"the notebook ran {m['wall_s']/60:.1f} min (from `results/mini/main/`).\n\n" + table.strip())

TABLES = dict(mini=_mini, anchors=_anchors, beyond=_beyond, grid=_grid)   # `<!-- table: NAME -->` without arguments

def _expand(md, fs):
    def sub(mo):
        what, *args = mo.group(1).split()
        if what == 'offline': return _offline(fs, [int(a.split('=')[1]) for a in args if a.startswith('ipc=')] or None)
        if what not in TABLES: raise ValueError(f'unknown table {what!r}')
        return TABLES[what](fs)
    return re.sub(r'<!-- table: ([^>]*?) -->', sub, md)

def render(nb=ROOT/'nbs'/'index.ipynb', committed:bool=False) -> str:
    "The README text: the notebook's markdown cells joined by blank lines, result tables filled in."
    cells = json.loads(Path(nb).read_text())['cells']
    md = [''.join(c['source']) if isinstance(c['source'], list) else c['source'] for c in cells if c['cell_type'] == 'markdown']
    return _expand('\n\n'.join(m.strip() for m in md) + '\n', _Files(committed))

if __name__ == '__main__':
    text, out = render(committed='--committed' in sys.argv), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = out.exists() and out.read_text() == text
        print('README.md is up to date' if ok else 'README.md is stale: run `python tools/readme.py`')
        sys.exit(0 if ok else 1)
    out.write_text(text); print(f'wrote {out}')
