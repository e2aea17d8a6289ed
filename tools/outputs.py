"""Re-execute the library notebooks and keep their outputs: `python tools/outputs.py [NB ...] [--out DIR] [--changed]`.

With no NB, every library notebook (`nbs/*.ipynb` except `index.ipynb`, which only feeds the README, and
except `nbs/paper/`, which stay templates without outputs). Each notebook runs in its own fresh process, one
at a time, the way the test suite runs it (nbdev's `test_nb`: the same `CaptureShell`, cells flagged with
settings.ini's `tst_flags`, i.e. `slow notest gpu`, are skipped), with outputs kept:

- deterministic: `random`, NumPy and torch seeded 0 before the first cell, one thread everywhere,
  `PYTHONHASHSEED=0`, progress bars off;
- small figures: PNG (not retina) at `--dpi` (80) with no Matplotlib version stamped into the file;
- nothing machine-specific: the repository's and the home folder's absolute paths, temporary folders and
  object addresses are scrubbed from every text output; anything left that still looks like an absolute path
  or a timing is printed as a warning naming the cell (fix the cell or scrub the pattern here);
- finally nbdev_clean (settings.ini has `clear_all = False`, so it strips metadata and execution counts and
  keeps the outputs): the written file is exactly what `nbdev_clean` in CI leaves unchanged.

A cell that raises stops that notebook: nothing is written for it and the exit status is 1.

`--out DIR` writes the executed copies into DIR (same file names) and leaves `nbs/` untouched; with
`--changed` a copy whose recorded input hash (the notebook's cells, `coda/*.py`, this file) is unchanged is kept
as it is (what `make docs` uses). Outputs are never compared byte for byte by the tests."""
import argparse, hashlib, json, os, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
SKIP = {'index.ipynb'}     # no visible code; README.md is generated from it

def library_notebooks():
    "The notebooks that carry outputs: nbs/*.ipynb in order, less index.ipynb and nbs/paper/."
    return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')) and p.name not in SKIP)

def input_hash(nb:Path):
    "What an executed copy depends on: the notebook's cell sources, the exported library and this tool."
    h = hashlib.sha256()
    for c in json.loads(nb.read_text())['cells']: h.update((c['cell_type'] + ''.join(c['source'])).encode())
    for p in [*sorted((ROOT/'coda').glob('*.py')), Path(__file__).resolve()]: h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()

# --- scrubbing ----------------------------------------------------------------------------------------------
def _scrubbers():
    tmp = re.escape(tempfile.gettempdir().rstrip('/'))
    venv = [] if Path(sys.prefix).resolve().is_relative_to(ROOT) else \
           [(re.compile(re.escape(sys.prefix.rstrip('/')) + r'(?=/|\b)'), lambda m: '.venv')]   # a virtualenv outside the checkout (a worktree's)
    return venv + [(re.compile(re.escape(str(ROOT)) + r'/?'), lambda m: '' if m.group(0).endswith('/') else '.'),
            (re.compile(re.escape(str(Path.home())) + r'(?=/|\b)'), lambda m: '~'),
            (re.compile(tmp + r'/[^/\s\'"]+'), lambda m: '<tmp>'),
            (re.compile(r' at 0x[0-9a-fA-F]{6,}'), lambda m: ' at 0x…')]

_ABS = re.compile(r'(?<![\w.~<])/(?:home|root|tmp|usr|opt|work|var|private)/[^\s\'"]+')
_TIME = re.compile(r'\b(?:took|elapsed|wall(?: time)?|cpu times?|in)\s*:?\s*\d+(?:\.\d+)?\s?(?:ms|s|sec|secs|seconds|min)\b'
                   r'|\d+(?:\.\d+)?\s?(?:s/it|it/s)\b', re.I)

def scrub(s:str, subs=None):
    "`s` with the machine-specific parts replaced (see the module docstring)."
    for rx, f in subs or _scrubbers(): s = rx.sub(f, s)
    return s

def _texts(o):
    "The (container, key) pairs of an output that hold text."
    if 'text' in o: yield o, 'text'
    if 'traceback' in o: yield o, 'traceback'
    for k, v in o.get('data', {}).items():
        if k.startswith('text/') or k.endswith(('json', 'javascript')) or k == 'image/svg+xml': yield o['data'], k

_BAR = re.compile(r'^[^\n|]*\d+%\|[^|]*\|\s*\d+/\d+\s*\[[^\]]*\]\s*$')

def drop_progress(text:str) -> str:
    "`text` as a terminal shows it (of `\\r`-overwritten states the last), without tqdm bars (rates, times)."
    lines = []
    for line in text.split('\n'):
        if '\r' not in line:
            if not _BAR.match(line): lines.append(line)
            continue
        segs = [g for g in line.split('\r') if g.strip() and not _BAR.match(g)]
        if segs: lines.append(segs[-1])
    return '\n'.join(lines)

def scrub_outputs(nb, name='') -> list:
    "Scrub every text output of `nb` in place (progress bars dropped); return warnings for what still looks machine-specific."
    subs, warns = _scrubbers(), []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream': o['text'] = drop_progress(''.join(o['text']) if isinstance(o['text'], list) else o['text'])
        if 'outputs' in c: c['outputs'] = [o for o in c['outputs'] if not (o.get('output_type') == 'stream' and not o['text'])]
        for o in c.get('outputs', []):
            for d, k in _texts(o):
                v = d[k]; t = ''.join(v) if isinstance(v, list) else v
                if not isinstance(t, str): continue
                t = scrub(t, subs); d[k] = t
                if k in ('text/html', 'image/svg+xml'): continue
                for rx, what in ((_ABS, 'an absolute path'), (_TIME, 'a timing')):
                    m = rx.search(t)
                    if m: warns.append(f'{name} cell {i}: output has what looks like {what}: {m.group(0)[:80]!r}')
    return warns

# --- one notebook, in this process ----------------------------------------------------------------------------
SETUP = """\
import random as _r, numpy as _np; _r.seed(0); _np.random.seed(0)
try:
    import torch as _t; _t.manual_seed(0); _t.set_num_threads(1)
except ImportError: pass
import matplotlib as _mpl
_mpl.rcParams.update({{'figure.dpi': {dpi}, 'savefig.dpi': {dpi}}})
from matplotlib_inline.backend_inline import set_matplotlib_formats as _f
_f('png', metadata={{'Software': None}})
del _r, _np, _mpl, _f
"""

def with_outputs(orig:dict, executed:dict) -> dict:
    """`orig` (the notebook as read from disk) with the outputs of `executed` (the same cells run): sources, their format
    (str or list of lines), ids and metadata stay byte for byte as they were; execnb's own fields (`idx_`) never enter."""
    assert len(orig['cells']) == len(executed['cells']), 'the executed notebook has other cells'
    for c, e in zip(orig['cells'], executed['cells']):
        if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = e.get('outputs', []), None
    return orig

def execute_one(src:Path, dest:Path, dpi=80, flags=None) -> bool:
    "Run `src` as the tests do (skipping `flags`) with outputs kept; write the cleaned result to `dest`."
    from execnb.shell import CaptureShell
    from execnb.nbio import read_nb
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.process import extract_directives
    from nbdev.clean import nbdev_clean
    flags = set(get_config().tst_flags.split() if flags is None else flags)
    before = src.read_bytes()
    nb = read_nb(src)
    def skip(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        d = extract_directives(cell, remove=False)
        if d.get('eval:', [''])[0].lower() == 'false': return True
        return bool(flags & d.keys())
    for c in nb.cells:
        if c.cell_type == 'code': c.outputs, c.execution_count = [], None
    k = CaptureShell(src)
    k.run_cell(SETUP.format(dpi=dpi))
    if k.exc: raise k.exc
    k._fname = src
    try:
        with working_directory(src.parent): k.run_all(nb, exc_stop=True, preproc=skip)
    except Exception:
        sys.stderr.write(k.prettytb(fname=src.relative_to(ROOT) if src.is_relative_to(ROOT) else src) + '\n'); return False
    nb = with_outputs(json.loads(before), json.loads(json.dumps(nb)))
    for w in scrub_outputs(nb, src.name): print('warning:', w, file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f'{dest.stem}.tmp-{os.getpid()}.ipynb')
    try:
        tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
        nbdev_clean.__wrapped__(fname=str(tmp))             # clear_all from settings.ini (False): outputs kept
        if dest == src and src.read_bytes() != before:     # someone saved it meanwhile: keep their edit
            sys.stderr.write(f'{src.name} changed while it ran: not overwritten, run again\n'); return False
        os.replace(tmp, dest)
    finally: tmp.unlink(missing_ok=True)
    return True

# --- driver ---------------------------------------------------------------------------------------------------
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', NUMBA_NUM_THREADS='1',
           PYTHONHASHSEED='0', TQDM_DISABLE='1', HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1', MPLBACKEND='Agg')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('nbs', nargs='*', help='notebooks (default: every library notebook)')
    ap.add_argument('--out', help='write the executed copies into this folder instead of in place')
    ap.add_argument('--changed', action='store_true', help='with --out: skip a copy whose inputs are unchanged')
    ap.add_argument('--dpi', type=int, default=80, help='figure resolution (default 80)')
    ap.add_argument('--flags', help='cell flags to skip (default: settings.ini tst_flags)')
    ap.add_argument('--one', nargs=2, metavar=('SRC', 'DEST'), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    flags = None if a.flags is None else a.flags.split()
    if a.one:
        return 0 if execute_one(Path(a.one[0]).resolve(), Path(a.one[1]).resolve(), a.dpi, flags) else 1
    if a.changed and not a.out: ap.error('--changed: only with --out (in place, every notebook is re-executed)')
    nbs = [Path(p).resolve() for p in a.nbs] or library_notebooks()
    for p in nbs:
        if not p.exists() or p.suffix != '.ipynb': ap.error(f'{p}: not a notebook')
        if p.parent == NBS/'paper': ap.error(f'{p.name}: the paper notebooks stay templates without outputs')
    out = Path(a.out).resolve() if a.out else None
    hashes = (out/'.inputs.json') if out else None
    known = json.loads(hashes.read_text()) if hashes and hashes.exists() else {}
    env = {**os.environ, **ENV}
    failed = []
    for p in nbs:
        dest = out/p.name if out else p
        h = input_hash(p)
        if a.changed and dest.exists() and known.get(p.name) == h: print(f'{p.name}: unchanged, kept'); continue
        t = time.time()
        cmd = [sys.executable, __file__, '--one', str(p), str(dest), '--dpi', str(a.dpi)] + (['--flags', a.flags] if a.flags is not None else [])
        ok = subprocess.run(cmd, env=env, cwd=ROOT).returncode == 0
        print(f'{p.name}: {"executed" if ok else "FAILED"} ({time.time() - t:.0f}s)', flush=True)
        if ok and out: known[p.name] = h; hashes.write_text(json.dumps(known, indent=1, sort_keys=True) + '\n')
        if not ok: failed.append(p.name)
    if failed: print('failed:', ' '.join(failed), file=sys.stderr); return 1
    return 0

if __name__ == '__main__': sys.exit(main())
