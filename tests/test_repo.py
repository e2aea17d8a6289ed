"Repository-level checks: README in sync with nbs/index.ipynb, console scripts installed."
import re, shutil, subprocess, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import readme

def test_readme_is_generated_from_index():
    "README.md is nbs/index.ipynb's text with the result tables of the committed results (a user's own `make mini` changes nothing)."
    assert (ROOT/'README.md').read_text() == readme.render(committed=True), 'README.md is stale: run `python tools/readme.py` (and commit the results)'

def test_readme_grid_table_shows_paired_differences():
    "The grid table's paired cells come from each run's metrics (auto − best cell, − mean of cells); a run recorded before them shows '–'."
    import json
    base = dict(dataset='fashion-mnist', n_val=5000, criterion='coverage', variant='reference', n_seeds=3, n_cells=16, auto=76.0,
                auto_std=1.2, grid_best=77.5, grid_median=76.8, grid_worst=75.6, auto_rank=16)
    new = {**base, 'ipc': 50, 'rho.mmd': 0.815, 'p.mmd': 0.0001, 'auto-best': 0.01, 'auto-best.std': 0.89, 'auto-best.p': 0.982, 'auto-mean': 0.68, 'auto-mean.std': 0.75, 'auto-mean.p': 0.0259}
    class Fs:
        files = {'g/ipc10/metrics.json': json.dumps({**base, 'ipc': 10}), 'g/ipc50/metrics.json': json.dumps(new)}
        def read(self, rel): return self.files.get(rel)
        def subdirs(self, rel): return ['ipc10', 'ipc50']
    rows = readme._grid(Fs(), 'g').splitlines()[-2:]
    assert rows[0].startswith('| 10 |') and rows[0].endswith('| – | – |')
    assert '/ 0.81 (< 0.001) |' in rows[1] and '/ – (–) |' in rows[0]
    assert rows[1].endswith('| +0.0 ± 0.9 (p = 0.982), no difference detected | +0.7 ± 0.8 (p = 0.026) |'), rows[1]

def test_readme_has_exactly_two_setup_commands():
    text = (ROOT/'README.md').read_text()
    block = text.split('## Set up and run')[1].split('```sh')[1].split('```')[0]
    cmds = [l.split('#')[0].strip() for l in block.strip().splitlines() if l.strip()]
    assert cmds == ['make mini', 'make test']

def test_console_scripts_installed():
    bin_ = Path(sys.executable).parent
    for s in ['coda_discover', 'coda_generate', 'coda_evaluate', 'coda_reproduce']:
        exe = shutil.which(s, path=str(bin_))
        assert exe, f'{s} is not installed next to {sys.executable}'
        r = subprocess.run([exe, '--help'], capture_output=True, text=True)
        assert r.returncode == 0 and 'usage' in r.stdout.lower(), (s, r.stderr[-2000:])

def test_committed_mini_generator_is_the_one_the_main_job_uses():
    "The mini diffusion model under data/minidiff/ is keyed exactly as the main job asks for it (else `make mini` retrains it)."
    import pytest
    from coda.data import load_dataset, fmnist_dirs
    from coda.minidiff import minidiff_key, train_params
    from coda.reproduce import notebook_parameters
    committed = [p.name for p in (ROOT/'data'/'minidiff').iterdir() if (p/'config.json').exists() and not p.name.startswith('.')]
    tracked = subprocess.run(['git', 'ls-files', 'data/minidiff'], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert tracked and {Path(t).parts[2] for t in tracked} <= set(committed), tracked
    if not fmnist_dirs(): pytest.skip('Fashion-MNIST not found: the committed generator is for it (digits trains its own)')
    nb = notebook_parameters(ROOT/'nbs'/'paper'/'offline.ipynb')
    key = minidiff_key(load_dataset('fashion-mnist'), train_params(steps=nb['train_steps'], batch_size=nb['train_batch']))
    assert {Path(t).parts[2] for t in tracked} == {key}, f'committed {tracked}, the main job wants {key}'

def _exported_definitions(cell_source):
    "The names of the top-level functions and classes in an exported notebook cell ([] for other cells)."
    import ast
    lines = cell_source.splitlines()
    flags = [l for l in lines if l.startswith('#|')]
    if not any(f.split()[1:2] in (['export'], ['exports']) for f in flags): return []
    code = '\n'.join(l for l in lines if not l.lstrip().startswith(('%', '!')))
    return [n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]

def test_exported_definitions_finds_every_def():
    src = "#| export\nimport os\n@patch\ndef f(x): pass\nclass A:\n    def m(self): pass\nX = 1\n"
    assert _exported_definitions(src) == ['f', 'A']                 # methods inside a class are the class's
    assert _exported_definitions(src.replace('#| export', '#| hide')) == []
    assert _exported_definitions(src.replace('#| export', '#| exports')) == ['f', 'A']

def test_one_definition_per_exported_cell():
    "Issue 11: no notebook cell holds more than one exported definition (private helpers count)."
    import json
    bundles = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            if c['cell_type'] != 'code': continue
            src = c['source'] if isinstance(c['source'], str) else ''.join(c['source'])
            if len(names := _exported_definitions(src)) > 1: bundles.append(f'{nb.name} cell {i}: {", ".join(names)}')
    assert not bundles, 'cells with more than one exported definition:\n' + '\n'.join(bundles)

_EXPORT = re.compile(r'^#\|\s*(?:export|exports)\b', re.M)

def _parsed(cell_source):
    "A cell's code as an AST (IPython's `%` and `!` lines left out)."
    import ast
    return ast.parse('\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in cell_source.splitlines()))

def _is_import(n):
    import ast   # `try: import x` with a fallback is an import too
    return isinstance(n, (ast.Import, ast.ImportFrom)) or (isinstance(n, ast.Try) and all(map(_is_import, n.body)))

def _exports_something(cell_source):
    "Whether an exported cell defines anything (a function, class or name), not only imports."
    import ast
    return bool(_EXPORT.search(cell_source)) and not all(_is_import(n) or isinstance(n, ast.Expr) for n in _parsed(cell_source).body)

def test_exports_something_tells_definitions_from_imports():
    assert _exports_something("#| export\nX = 1") and _exports_something("#| export\ndef f(): pass")
    assert not _exports_something("#| export\nimport os\nfrom x import y") and not _exports_something("X = 1")
    assert not _exports_something("#| export\ntry: import fcntl\nexcept ImportError: fcntl = None")

def _hidden_imports(cell_source):
    "A `#| hide` cell of imports only."
    import ast
    return bool(re.search(r'^#\|\s*hide\b', cell_source, re.M)) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in _parsed(cell_source).body)

def _code_cells(nb):
    import json
    return [(i, ''.join(c['source'])) for i, c in enumerate(json.loads(nb.read_text())['cells']) if c['cell_type'] == 'code']

def test_each_exported_definition_is_shown_at_once():
    "Issue 11 (fastcore's style): the code cell after each exported definition shows or tests it (markdown may come between)."
    orphans = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        code = [(i, s) for i, s in _code_cells(nb) if not _hidden_imports(s)]   # a hidden import-only cell may stand between
        for (i, src), (_, nxt) in zip(code, [*code[1:], (None, None)]):
            if _exports_something(src) and (nxt is None or _EXPORT.search(nxt)): orphans.append(f'{nb.name} cell {i}')
    assert not orphans, 'exported cells not followed by a cell that shows them:\n' + '\n'.join(orphans)

def _mixes_imports(cell_source):
    "A cell that nbdev_proc_nbs executes for its imports (any import, nested too) but that holds other code as well."
    import ast
    if re.search(r'^#\|\s*(export|exports|exporti|exec_doc)\b|^#\|\s*eval:\s*false', cell_source, re.M | re.I): return False
    if 'nbdev_export()' in cell_source: return False                  # nbdev skips the closing export cell
    t = _parsed(cell_source)
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(t)) and \
           any(not isinstance(n, (ast.Import, ast.ImportFrom)) for n in t.body)

def test_mixes_imports_finds_what_nbdev_executes():
    assert _mixes_imports("import os\nx = os.sep") and _mixes_imports("try: import a\nexcept ImportError: pass")
    assert not _mixes_imports("import os\nfrom a import b") and not _mixes_imports("x = 1") and not _mixes_imports("#| export\nimport os\nX = 1")
    assert _hidden_imports("#| hide\nimport os") and not _hidden_imports("import os") and not _hidden_imports("#| hide\nimport os\nx = 1")

def test_no_cell_mixes_imports_with_code():
    "Issue 14: nbdev_proc_nbs (nbdev_docs) executes every cell that holds an import; one that also uses a test's names fails there."
    mixed = [f'{nb.name} cell {i}' for nb in sorted((ROOT/'nbs').glob('*.ipynb')) for i, s in _code_cells(nb) if _mixes_imports(s)]
    assert not mixed, 'cells that mix imports with other code (put the imports in a `#| hide` cell before them):\n' + '\n'.join(mixed)
