"""Write README.md from nbs/index.ipynb (its markdown cells, in order): `python tools/readme.py [--check]`.
nbdev_readme needs Quarto; this is the same text without it. `--check` exits 1 if README.md is stale."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb=ROOT/'nbs'/'index.ipynb') -> str:
    "The README text: the notebook's markdown cells joined by blank lines."
    cells = json.loads(Path(nb).read_text())['cells']
    md = [''.join(c['source']) if isinstance(c['source'], list) else c['source'] for c in cells if c['cell_type'] == 'markdown']
    return '\n\n'.join(m.strip() for m in md) + '\n'

if __name__ == '__main__':
    text, out = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = out.exists() and out.read_text() == text
        print('README.md is up to date' if ok else 'README.md is stale: run `python tools/readme.py`')
        sys.exit(0 if ok else 1)
    out.write_text(text); print(f'wrote {out}')
