"""Write README.md from nbs/index.ipynb (its markdown cells, in order): `python tools/readme.py [--check]`.
nbdev_readme needs Quarto; this is the same text without it. `--check` exits 1 if README.md is stale.

Result tables are never typed by hand: a line `<!-- table: offline ipc=10 -->` becomes the IPC-10 rows of
`results/offline/summary.csv` (with its dataset, protocol, n and test-set size), and `<!-- table: mini -->`
the main job's `results/mini/main/table.md` with its measured wall time."""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _offline(ipcs):
    import pandas as pd
    from coda.offline import summary_markdown
    f = ROOT/'results'/'offline'/'summary.csv'
    if not f.exists(): return '*(the offline table has not been run yet: `coda_reproduce offline`)*'
    s = pd.read_csv(f); env = json.loads((f.parent/'environment.json').read_text())
    cfg = [json.loads(p.read_text()) for p in sorted(f.parent.glob('*/config.json'))]
    meta = [json.loads(p.read_text()) for p in sorted(f.parent.glob('*/metrics.json'))]
    n_test = sorted({m.get('n_test') for m in meta if m.get('n_test')})
    head = (f"{', '.join(env['datasets'])}; DC protocol (ConvNet-3 width 32, 300 epochs); test set "
            f"{', '.join(map(str, n_test))} images; n = seeds per row; commit {cfg[0].get('git_sha', '?')[:10] if cfg else '?'}; "
            f"from `results/offline/summary.csv`.\n\n")
    return head + summary_markdown(s, ipcs).strip()

def _mini():
    d = ROOT/'results'/'mini'/'main'
    if not (d/'table.md').exists(): return '*(not run yet: `make mini`)*'
    m = json.loads((d/'metrics.json').read_text())
    return (f"{m['dataset']}, IPC 10, n = {m['n_seeds']} seeds, test set {m['n_test']} images, DC protocol; "
            f"the notebook ran {m['wall_s']/60:.1f} min (from `results/mini/main/`).\n\n" + (d/'table.md').read_text().strip())

def _expand(md):
    def sub(mo):
        what, *args = mo.group(1).split()
        if what == 'mini': return _mini()
        if what == 'offline': return _offline([int(a.split('=')[1]) for a in args if a.startswith('ipc=')] or None)
        raise ValueError(f'unknown table {what!r}')
    return re.sub(r'<!-- table: ([^>]*?) -->', sub, md)

def render(nb=ROOT/'nbs'/'index.ipynb') -> str:
    "The README text: the notebook's markdown cells joined by blank lines, result tables filled in."
    cells = json.loads(Path(nb).read_text())['cells']
    md = [''.join(c['source']) if isinstance(c['source'], list) else c['source'] for c in cells if c['cell_type'] == 'markdown']
    return _expand('\n\n'.join(m.strip() for m in md) + '\n')

if __name__ == '__main__':
    text, out = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = out.exists() and out.read_text() == text
        print('README.md is up to date' if ok else 'README.md is stale: run `python tools/readme.py`')
        sys.exit(0 if ok else 1)
    out.write_text(text); print(f'wrote {out}')
