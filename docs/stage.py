"""Lay out the documentation site's sources in `docs/_build/src/` (what `make docs` then builds with Sphinx + myst-nb).

`python docs/stage.py [--no-execute]`

- **Library**: every library notebook, in the order of its file name, with its outputs. A notebook whose
  committed cells carry outputs is taken as it is; one without any is first executed into
  `docs/_build/executed/` by `tools/outputs.py --out … --changed` (re-run only when the notebook or
  `coda/*.py` changed), so a fresh clone builds the same site before and after the outputs are committed.
- nbdev's cell directives become myst-nb's tags (`#| hide` and `default_exp` hide the cell, `echo: false`
  the input, `output: false` the output) and are not shown; the rest of a cell's code is shown as it is.
- **The paper**: references in the prose (`§3.1`, `Eq. 7`, `Algorithm 2`, `Appendix A.4`) link to a page with
  the paper's sections and Eq. 1–7, which lists, per section, the notebooks that cite it.
- **Results**: the executed copies of the paper notebook from the committed runs (`results/mini/main/`,
  `results/offline/ipc*/`, `results/auto_grid/ipc*/` that finished: `metrics.json`, the done marker, beside the
  notebook and no error in it), each with
  the figures the run wrote, and the offline summary table.

Nothing here changes a tracked file."""
import argparse, json, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT/'docs'/'_build'
SRC, EXE = BUILD/'src', BUILD/'executed'
sys.path.insert(0, str(ROOT/'tools'))
from outputs import library_notebooks, scrub_outputs          # noqa: E402

# --- the paper's sections (titles as printed) and equations (Eq. 1-7, as printed) ------------------------------
SECTIONS = {
    '1': 'Introduction', '2': 'Preliminaries', '2.1': 'Background on dataset distillation',
    '2.2': 'Latent diffusion and score-based guidance', '3': 'Method', '3.1': 'Distribution Discovery',
    '3.2': 'Distribution Alignment', '4': 'Experiments', '4.1': 'Experiment setup',
    '4.2': 'Comparison with state-of-the-art methods', '5': 'Ablation study', '6': 'Conclusion',
    'A.1': 'The use of large language models', 'A.2': 'Related work', 'A.3': 'Limitations and future work',
    'A.4': 'Full pseudocode for the post-processing scheme', 'A.5': 'Analysis of post-processing components',
    'A.6': 'Impact of key hyperparameters in distribution discovery',
    'A.7': 'Impact of key hyperparameters in distribution alignment',
    'A.8': 'Performance evaluation across different resolutions', 'A.9': 'Case study on zero-cost domain change: DRIVE',
    'A.10': 'Further computational efficiency analysis', 'A.11': 'Visualization and analysis of feature spaces and the role of UMAP',
    'A.12': 'Limitations of general-purpose models in DD tasks', 'A.13': 'Visualizing the impact of guidance strength',
    'A.14': 'Visualization for CoDA transfer to DiT', 'A.15': 'Robustness to noisy and incomplete labels',
    'A.16': 'Transferring CoDA to flow-matching models (SD3)', 'A.17': 'Visualization of final results'}
EQUATIONS = {   # number: (section, LaTeX)
    1: ('2.1', r"S^* = \operatorname{argmin}_S \mathbb{E}_{(x,y) \sim q(x)} [\ell(f_{\theta_S}, x, y)]"),
    2: ('2.2', r"z_t = \sqrt{\bar{\alpha}_t}z_0 + \sqrt{1 - \bar{\alpha}_t}\epsilon"),
    3: ('2.2', r"\nabla_{z_t} \log p_t(z_t) = -\frac{\epsilon}{\sqrt{1 - \bar{\alpha}_t}}"),
    4: ('3.2', r"\hat{z}_0(z_t) = \frac{1}{\sqrt{\bar{\alpha}_t}}(z_t - \sqrt{1 - \bar{\alpha}_t}\epsilon_\theta(z_t, t, c))"),
    5: ('3.2', r"g(z_t) = s_j - \hat{z}_0(z_t)"),
    6: ('3.2', r"\hat{z}_{0,\text{new}} = \frac{1}{\sqrt{\bar{\alpha}_t}}(z_t - \sqrt{1 - \bar{\alpha}_t}(\epsilon_\theta + \Delta\epsilon_\theta))"
               r" = \hat{z}_0(z_t) - \left(\frac{\sqrt{1 - \bar{\alpha}_t}}{\sqrt{\bar{\alpha}_t}}\right) \Delta\epsilon_\theta"),
    7: ('3.2', r"\Delta\epsilon_\theta = \gamma \cdot g(z_t) \cdot \left(-\frac{\sqrt{\bar{\alpha}_t}}{\sqrt{1 - \bar{\alpha}_t}}\right)")}
ALGORITHMS = {1: '3.1', 2: 'A.4'}

def sec_label(s): return 'paper-sec-' + s.lower().replace('.', '-')
def eq_label(n): return f'paper-eq-{n}'

# text that must not be touched: code, math, links, HTML tags, existing roles
_PROTECT = r'```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$|\[[^\]\n]*\]\([^)\n]*\)|<[^>\n]+>|\{\w+\}`[^`]*`'
_REF = (r'§\s?(?P<sec>A\.\d+|\d+(?:\.\d+)*)|Appendix\s(?P<app>A\.\d+)'
        r'|(?P<eqw>Eqs?\.\s?)(?P<eq>\d+)(?P<eqr>\s?[–-]\s?\d+)?|(?P<algw>Alg(?:orithm|\.)\s?)(?P<alg>\d)(?P<algr>\s?[–-]\s?\d)?')
_TOKEN = re.compile(f'(?P<keep>{_PROTECT})|{_REF}', re.S)

def link_paper(md:str, cites:dict, page:str) -> str:
    "`md` with its references to the paper turned into links to the paper page; `cites[label]` collects `page`."
    def sub(m):
        if m.group('keep'): return m.group(0)
        text = m.group(0)
        if m.group('sec') or m.group('app'):
            s = (m.group('sec') or m.group('app')).rstrip('.')
            label = sec_label(s) if s in SECTIONS else None
        elif m.group('eq'): n = int(m.group('eq')); label = eq_label(n) if n in EQUATIONS else None
        else: label = sec_label(ALGORITHMS[int(m.group('alg'))]) if int(m.group('alg')) in ALGORITHMS else None
        if label is None: return text
        cites.setdefault(label, []).append(page) if page not in cites.get(label, []) else None
        return f'{{ref}}`{text} <{label}>`'
    return _TOKEN.sub(sub, md)

# --- notebooks -----------------------------------------------------------------------------------------------
_DIREC = re.compile(r'^\s*#\|\s?(.*)$')

def split_directives(src:str):
    "The leading `#|` directives of a code cell (name -> arguments) and the code without them."
    lines, dirs = src.split('\n'), {}
    while lines and (_DIREC.match(lines[0]) or (dirs and not lines[0].strip())):
        m = _DIREC.match(lines.pop(0))
        if m and m.group(1).strip():
            name, *args = m.group(1).split(); dirs[name.rstrip(':') if name.endswith(':') else name] = ' '.join(args)
    return dirs, '\n'.join(lines)

def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def has_outputs(nb:dict) -> bool: return any(c.get('outputs') for c in nb['cells'] if c['cell_type'] == 'code')

def errors(nb:dict) -> list: return [i for i, c in enumerate(nb['cells']) for o in c.get('outputs', []) if o.get('output_type') == 'error']

def transform(nb:dict, cites:dict, page:str) -> dict:
    "nbdev directives -> myst-nb tags (directive lines not shown); paper references -> links."
    for c in nb['cells']:
        s = _src(c)
        if c['cell_type'] == 'markdown': c['source'] = link_paper(s, cites, page); continue
        if c['cell_type'] != 'code': continue
        dirs, code = split_directives(s)
        tags = set(c.get('metadata', {}).get('tags', []))
        if {'hide', 'default_exp'} & dirs.keys() or dirs.get('include') == 'false' or 'nbdev_export' + '(' in code \
           or (not code.strip() and not c.get('outputs')): tags.add('remove-cell')
        if dirs.get('echo') == 'false' or dirs.get('hide_input') is not None: tags.add('remove-input')
        if dirs.get('output') == 'false': tags.add('remove-output')
        c['source'] = code
        c.setdefault('metadata', {})['tags'] = sorted(tags)
    return nb

def title(nb:dict) -> str:
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+)$', _src(c), re.M)
            if m: return m.group(1).strip()
    return ''

def write(nb:dict, p:Path):
    p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

def md_cell(text):
    import hashlib
    return dict(cell_type='markdown', id='docs-' + hashlib.sha1(text.encode()).hexdigest()[:8], metadata={}, source=text)

# --- pages ---------------------------------------------------------------------------------------------------
def library(execute:bool, cites:dict) -> list:
    "Stage the library notebooks; return their page names in order."
    nbs = library_notebooks()
    todo = [p for p in nbs if not has_outputs(json.loads(p.read_text()))]
    if todo and execute:
        print(f'executing {len(todo)} notebook(s) without committed outputs into {EXE.relative_to(ROOT)}/ (tools/outputs.py)', flush=True)
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'outputs.py'), '--out', str(EXE), '--changed', *map(str, todo)], cwd=ROOT)
        if r.returncode: sys.exit('docs: a notebook failed to execute (traceback above): the site is not built')
    pages = []
    for p in nbs:
        src = p if p not in todo else EXE/p.name
        if not src.exists(): sys.exit(f'docs: {p.name} has no outputs and no executed copy in {EXE}: run without --no-execute')
        nb = json.loads(src.read_text())
        if errors(nb): sys.exit(f'docs: {src} has error outputs in cells {errors(nb)}')
        write(transform(nb, cites, p.stem), SRC/p.name); pages.append(p.stem)
    return pages

RUN_KINDS = {'_beyond': ' (beyond the paper)', '_random': ' (Random only, more seeds)'}
EXPERIMENTS = (('offline', 'Offline benchmark, IPC {}'), ('auto_grid', 'Auto hyper-parameters vs the grid, IPC {} (beyond the paper)'))

def _runs():
    "The committed runs of the paper notebooks to show: (page, folder, title, notebook file name)."
    key = lambda d: (int(re.sub(r'\D', '', d.name) or 0), d.name)
    runs = [('results/mini-main', ROOT/'results'/'mini'/'main', 'The main job (`make mini`)', 'offline.ipynb')]
    for exp, name in EXPERIMENTS:       # each experiment's runs copy nbs/paper/<experiment>.ipynb
        for d in sorted((ROOT/'results'/exp).glob('ipc*'), key=key):
            if m := re.fullmatch(r'ipc(\d+)(_[a-z]+)?', d.name):   # ipc10, ipc10_beyond (issue 13's rows), ipc1_random
                runs.append((f'results/{exp}-{d.name}', d, name.format(m[1]) + RUN_KINDS.get(m[2] or '', ''), f'{exp}.ipynb'))
    return runs

_WARNING = re.compile(r'^\S+\.py:\d+: \w*Warning: .*\n(?:[ \t]+.*\n?)?', re.M)

def clean_run(nb:dict, rel:str) -> dict:
    "A run's executed notebook as a reader wants it: its own folder as `out_dir` (not the machine's path), no progress bars or Python warnings."
    for c in nb['cells']:
        if 'injected-parameters' in c.get('metadata', {}).get('tags', []):
            c['source'] = re.sub(r'^out_dir = .*$', f'out_dir = "{rel}"', _src(c), flags=re.M)
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream': o['text'] = _WARNING.sub('', ''.join(o['text']))
    scrub_outputs(nb)                   # progress bars, emptied streams and this machine's paths, as for the library notebooks
    return nb

def results(cites:dict) -> list:
    "Stage the executed run notebooks with their figures; return their page names."
    pages = []
    for page, d, name, nbf in _runs():
        nbp = d/nbf
        if not nbp.exists(): continue
        nb = json.loads(nbp.read_text())
        if not (d/'metrics.json').exists() or errors(nb):
            print(f'docs: skipping {nbp.relative_to(ROOT)}: the run has not finished (no metrics.json, or an error in the notebook)'); continue
        cfg = json.loads((d/'config.json').read_text()) if (d/'config.json').exists() else {}
        nb = transform(clean_run(nb, str(d.relative_to(ROOT))), cites, page)
        first = next(i for i, c in enumerate(nb['cells']) if c['cell_type'] == 'markdown')
        orig = title(nb)
        nb['cells'][first]['source'] = re.sub(r'^#\s+.+$', lambda m: f'# Results: {name}\n\n*{orig}*', _src(nb['cells'][first]), count=1, flags=re.M)
        sha = (cfg.get('git_sha') or '')[:10]
        note = (f"The executed copy of `nbs/paper/{nbf}` committed in `{d.relative_to(ROOT)}/`"
                + (f" (dataset {cfg['dataset']}, commit {sha})" if cfg.get('dataset') else '') + '.')
        nb['cells'].insert(first + 1, md_cell(note))
        figs = sorted(d.glob('*.png'))
        if figs:
            dest = SRC/Path(page).parent/Path(page).name
            dest.mkdir(parents=True, exist_ok=True)
            for f in figs: shutil.copy2(f, dest/f.name)
            nb['cells'].append(md_cell('## The figures this run wrote\n\n' + '\n\n'.join(
                f'`{f.name}`\n\n![{f.stem}]({Path(page).name}/{f.name})' for f in figs)))
        write(nb, SRC/f'{page}.ipynb'); pages.append(page)
    return pages

def results_index(pages:list):
    d = ROOT/'results'/'offline'
    parts = ['# The committed runs', '',
             'What the committed runs measured, as their executed notebooks show it. They are copies of the paper '
             'notebooks `nbs/paper/offline.ipynb` and `nbs/paper/auto_grid.ipynb` (which stay templates without outputs), '
             'run by `coda_reproduce mini`, `coda_reproduce offline` and `coda_reproduce auto_grid`.', '']
    if (d/'summary.md').exists():
        parts += ['## The offline benchmark', '', '`results/offline/summary.md`:', '', (d/'summary.md').read_text().strip(), '']
    if (d/'paired.png').exists():
        (SRC/'results').mkdir(parents=True, exist_ok=True); shutil.copy2(d/'paired.png', SRC/'results'/'paired.png')
        parts += ['![The paired differences per seed](results/paired.png)', '']
    parts += ['```{toctree}', ':maxdepth: 1', '', *pages, '```', '']
    (SRC/'results.md').write_text('\n'.join(parts))

def paper_page(cites:dict, titles:dict):
    parts = ['# The paper, section by section', '',
             "*CoDA: From Text-to-Image Diffusion Models to Training-Free Dataset Distillation* (ICLR 2026). "
             "The notebooks' references to the paper (§3.1, Eq. 7, Algorithm 2, Appendix A.4) link here; each "
             'section lists the pages that cite it. Algorithm 1 is in §3.1, Algorithm 2 in Appendix A.4.', '']
    quiet = []
    for s, t in SECTIONS.items():
        eqs = [(n, tex) for n, (es, tex) in EQUATIONS.items() if es == s]
        pages = list(dict.fromkeys(cites.get(sec_label(s), []) + [p for n, _ in eqs for p in cites.get(eq_label(n), [])]))
        if not (eqs or pages): quiet.append((s, t)); continue
        parts += [f'({sec_label(s)})=', f'## §{s} {t}', '']
        for n, tex in eqs: parts += [f'({eq_label(n)})=', f'$$\n{tex} \\tag{{{n}}}\n$$', '']
        if pages: parts += ['Cited in: ' + ', '.join(f'[{titles.get(p, p)}]({p}.ipynb)' for p in pages), '']
    if quiet: parts += ['## The other sections', '', 'Not cited by these pages: ' + '; '.join(f'§{s} {t}' for s, t in quiet) + '.', '']
    (SRC/'paper.md').write_text('\n'.join(parts))

def index(lib:list, res:list, cites:dict):
    import readme                              # tools/readme.py: the README's result tables
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            s = readme._expand(_src(c), readme._Files(committed=False))
            c['source'] = re.sub(r'\]\(nbs/(\w+)\.ipynb\)', r'](\1.ipynb)', s)
    nb = transform(nb, cites, 'index')
    toc = lambda cap, items: f'```{{toctree}}\n:caption: {cap}\n:maxdepth: 1\n:hidden:\n\n' + '\n'.join(items) + '\n```'
    nb['cells'].append(md_cell(toc('Library', lib) + '\n\n' + toc('The paper', ['paper']) + '\n\n' + toc('Results', ['results'])))
    write(nb, SRC/'index.ipynb')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--no-execute', action='store_true', help='do not execute notebooks that have no outputs (use earlier copies)')
    a = ap.parse_args(argv)
    if SRC.exists(): shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    cites = {}
    lib = library(not a.no_execute, cites)
    res = results(cites)
    results_index(res)
    index(lib, res, cites)
    titles = {p: title(json.loads((SRC/f'{p}.ipynb').read_text())) for p in lib + res + ['index']}
    paper_page(cites, titles)
    print(f'docs: staged {len(lib)} library notebooks, {len(res)} result notebooks, the paper page in {SRC.relative_to(ROOT)}/')

if __name__ == '__main__': main()
