"""The notebooks as a reader sees them: outputs made by tools/outputs.py, the site made by `make docs`, checked in Chromium.

The fast tests check the pieces (scrubbing, nbdev directives, links to the paper). The slow ones need what they
check: `nbdev_proc_nbs` on a copy of the notebooks (no Quarto needed), and the built site (`make docs`) opened in
headless Chromium (Debian's `chromium`); each skips with the reason when that is absent. Screenshots go to
$CODA_DOCS_SHOTS (default: pytest's temporary folder)."""
import html, json, os, re, shutil, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT/'docs'/'_build'/'html'
sys.path.insert(0, str(ROOT/'tools')); sys.path.insert(0, str(ROOT/'docs'))
import outputs, stage                                    # noqa: E402

# --- fast: the pieces ---------------------------------------------------------------------------------------
def test_scrub_removes_machine_specific_text():
    s = outputs.scrub(f'{outputs.ROOT}/nbs/x.ipynb and {outputs.ROOT} <object at 0x7f3a2b1c9d0e> {Path.home()}/.cache')
    assert s == 'nbs/x.ipynb and . <object at 0x…> ~/.cache', s
    nb = {'cells': [{'cell_type': 'code', 'source': '', 'outputs': [
        {'output_type': 'stream', 'name': 'stdout', 'text': ['took 3.2s\n', '/usr/share/x\n']}]}]}
    warns = outputs.scrub_outputs(nb, 'n.ipynb')
    assert len(warns) == 2 and {w.split('looks like ')[1].split(':')[0] for w in warns} == {'a timing', 'an absolute path'}, warns
    assert nb['cells'][0]['outputs'][0]['text'] == 'took 3.2s\n/usr/share/x\n'     # reported, not silently changed

def test_scrub_names_an_outside_virtualenv_like_the_checkouts(monkeypatch):
    "A worktree run with another checkout's venv writes `.venv/lib/...`, as a run with its own `.venv` does."
    monkeypatch.setattr(outputs.sys, 'prefix', '/elsewhere/main/.venv')
    assert outputs.scrub('/elsewhere/main/.venv/lib/python3.11/site-packages/tqdm/auto.py:21') == '.venv/lib/python3.11/site-packages/tqdm/auto.py:21'
    monkeypatch.setattr(outputs.sys, 'prefix', str(outputs.ROOT/'.venv'))
    assert outputs.scrub(f'{outputs.ROOT}/.venv/lib/x.py') == '.venv/lib/x.py'

def test_progress_bars_are_dropped():
    bar = '\rencode 3:   0%|          | 0/3 [00:00<?, ?it/s]\rencode 3: 100%|##########| 3/3 [00:00<00:00, 29.49it/s]\r      \r'
    assert outputs.drop_progress(bar) == ''
    assert outputs.drop_progress('epoch 1\repoch 2\nloss 0.5\n') == 'epoch 2\nloss 0.5\n'   # what a terminal shows
    nb = {'cells': [{'cell_type': 'code', 'source': '', 'outputs': [{'output_type': 'stream', 'name': 'stderr', 'text': bar}]}]}
    assert outputs.scrub_outputs(nb) == [] and nb['cells'][0]['outputs'] == []

def test_library_notebooks_are_the_numbered_ones():
    names = [p.name for p in outputs.library_notebooks()]
    assert names == sorted(names) and 'index.ipynb' not in names and all(re.match(r'\d', n) for n in names)
    with pytest.raises(SystemExit): outputs.main([str(ROOT/'nbs'/'paper'/'offline.ipynb'), '--out', '/nonexistent'])

def test_outputs_keep_the_sources_as_written():
    "Executing a notebook adds outputs only: sources keep their format (str or lines), ids stay, execnb's idx_ never enters."
    orig = {'cells': [{'cell_type': 'code', 'id': 'a1', 'source': ['x = 1\n', 'x'], 'outputs': [], 'execution_count': None, 'metadata': {}},
                      {'cell_type': 'markdown', 'id': 'b2', 'source': '# T', 'metadata': {}}]}
    ran = {'cells': [{'cell_type': 'code', 'id': 'a1', 'idx_': 0, 'source': 'x = 1\nx', 'execution_count': 3,
                      'outputs': [{'output_type': 'execute_result', 'data': {'text/plain': '1'}}], 'metadata': {}},
                     {'cell_type': 'markdown', 'id': 'b2', 'idx_': 1, 'source': '# T', 'metadata': {}}]}
    nb = outputs.with_outputs(json.loads(json.dumps(orig)), ran)
    assert nb['cells'][0]['source'] == ['x = 1\n', 'x'] and nb['cells'][0]['outputs'][0]['data'] == {'text/plain': '1'}
    assert nb['cells'][0]['execution_count'] is None and not any('idx_' in c for c in nb['cells'])
    with pytest.raises(AssertionError): outputs.with_outputs(orig, {'cells': ran['cells'][:1]})

def test_committed_notebooks_carry_no_execution_fields():
    "No library notebook carries execnb's idx_ or an execution count (what tools/outputs.py writes, nbdev_clean leaves)."
    for p in outputs.library_notebooks():
        for c in json.loads(p.read_text())['cells']:
            assert 'idx_' not in c and c.get('execution_count') is None, f'{p.name}: cell {c.get("id")}'

def test_directives_become_myst_nb_tags():
    nb = {'cells': [{'cell_type': 'code', 'source': '#| hide\nimport x', 'outputs': [], 'metadata': {}},
                    {'cell_type': 'code', 'source': '#| export\ndef f(): pass', 'outputs': [], 'metadata': {}},
                    {'cell_type': 'code', 'source': '#| echo: false\nplot()', 'outputs': [{}], 'metadata': {}},
                    {'cell_type': 'code', 'source': '#| default_exp core', 'outputs': [], 'metadata': {}}]}
    cs = stage.transform(nb, {}, 'p')['cells']
    assert [c['metadata']['tags'] for c in cs] == [['remove-cell'], [], ['remove-input'], ['remove-cell']]
    assert cs[1]['source'] == 'def f(): pass' and cs[2]['source'] == 'plot()'

def test_paper_references_link_to_the_paper_page():
    cites = {}
    md = stage.link_paper('Alg. 1 (§3.1), Eq. 4–7, Appendix A.4; not `§3.1` in code, nor $§3.1$, nor §9.9.', cites, 'p')
    assert md == ('{ref}`Alg. 1 <paper-sec-3-1>` ({ref}`§3.1 <paper-sec-3-1>`), {ref}`Eq. 4–7 <paper-eq-4>`, '
                  '{ref}`Appendix A.4 <paper-sec-a-4>`; not `§3.1` in code, nor $§3.1$, nor §9.9.'), md
    assert cites == {'paper-sec-3-1': ['p'], 'paper-eq-4': ['p'], 'paper-sec-a-4': ['p']}

# --- slow: nbdev's docs processing without Quarto ----------------------------------------------------------
@pytest.mark.slow
def test_nbdev_proc_nbs_runs_clean(tmp_path):
    "nbdev_proc_nbs (nbdev_docs less Quarto) on a copy: no cell fails when nbdev executes imports, exports and show_doc."
    if not os.environ.get('CODA_TEST_PROC'):
        pytest.skip('nbdev_proc_nbs runs every import cell of every notebook (over 15 min on 2 shared cores): set CODA_TEST_PROC=1')
    for d in ('nbs', 'coda'): shutil.copytree(ROOT/d, tmp_path/d, ignore=shutil.ignore_patterns('_proc', '__pycache__', '*.yml'))
    for f in ('settings.ini', 'setup.py'): shutil.copy2(ROOT/f, tmp_path/f)
    stub = tmp_path/'bin'; stub.mkdir(); (stub/'quarto').write_text('#!/bin/sh\nexit 0\n'); (stub/'quarto').chmod(0o755)
    env = {**os.environ, 'PATH': f'{stub}:{os.environ["PATH"]}', **outputs.ENV}   # a Quarto on PATH: nbdev does not try to install one
    r = subprocess.run([str(Path(sys.executable).parent/'nbdev_proc_nbs'), '--n_workers', '0'], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    done = sorted(p.name for p in (tmp_path/'_proc').glob('*.ipynb'))
    assert done == sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb')), done
    assert {p.name for p in (tmp_path/'nbs').glob('*.yml')} == {'_quarto.yml', 'nbdev.yml', 'sidebar.yml'}   # all git-ignored
    ignored = subprocess.run(['git', 'check-ignore', 'nbs/_quarto.yml', 'nbs/nbdev.yml', 'nbs/sidebar.yml', '_proc/x', '_docs/x'],
                             cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert len(ignored) == 5, ignored

# --- slow: the built site in a browser ----------------------------------------------------------------------
PAGES = {'index': 'index.html', 'discovery': '30_discover.html', 'alignment': '40_align.html', 'results': 'results.html'}
CHECK = """<script>window.addEventListener('load', () => setTimeout(() => {
  const r = {title: document.title,
             imgs: [...document.images].map(i => [i.getAttribute('src').slice(0, 80), i.naturalWidth, i.naturalHeight]),
             math: document.querySelectorAll('mjx-container').length, raw_math: document.querySelectorAll('.math').length,
             tracebacks: document.querySelectorAll('.output.traceback, .output.error, .ansi-red-fg').length};
  const p = document.createElement('pre'); p.id = 'coda-check'; p.textContent = JSON.stringify(r); document.body.appendChild(p);
}, 3000));</script>"""

def _chromium():
    return next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)

def _need_site():
    if not (HTML/'index.html').exists(): pytest.skip('docs/_build/html is not built: run `make docs` first')

def _browser(*args, timeout=120):
    exe = _chromium()
    if exe is None: pytest.skip('Chromium is not installed (Debian: apt-get install chromium)')
    cmd = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
           '--allow-file-access-from-files', '--virtual-time-budget=15000', *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

def _links(html):
    class P(HTMLParser):
        out = []
        def handle_starttag(self, tag, a):
            a = dict(a)
            if tag in ('script', 'img') and a.get('src'): self.out.append((tag, a['src']))
            if tag == 'link' and a.get('rel') in ('stylesheet', 'preload') and a.get('href'): self.out.append((tag, a['href']))
    p = P(); p.out = []; p.feed(html); return p.out

@pytest.mark.slow
def test_build_left_no_warning():
    "make docs builds with -W; its warning log is empty and every library notebook has its page, in order, titled."
    _need_site()
    log = HTML.parent/'warnings.txt'
    assert log.exists() and log.read_text().strip() == '', log.read_text()[:3000] if log.exists() else 'no warnings.txt'
    nbs = outputs.library_notebooks()
    idx = (HTML/'index.html').read_text()
    hrefs = [h for h in re.findall(r'href="([0-9]\w*)\.html"', idx)]
    assert list(dict.fromkeys(hrefs)) == [p.stem for p in nbs], hrefs          # the sidebar keeps the notebooks' order
    for p in nbs:
        t = stage.title(json.loads(p.read_text()))
        page = (HTML/f'{p.stem}.html').read_text()
        shown = html.unescape(re.search(r'<title>(.*?)</title>', page, re.S).group(1)).strip()
        assert shown.startswith(re.sub(r'[`*_]', '', t)), (p.name, shown, t)
        assert 'class="output traceback' not in page, f'{p.name}: an error output'
        ext = [l for l in _links(page) if re.match(r'(https?:)?//', l[1])]
        assert not ext, f'{p.name} loads from the network: {ext}'

@pytest.mark.slow
@pytest.mark.parametrize('name', list(PAGES))
def test_page_in_chromium(name, tmp_path):
    "The page loads in Chromium, every image has a non-zero natural size, equations are typeset, no traceback shown."
    _need_site()
    site = tmp_path/'site'; shutil.copytree(HTML, site)
    page = site/PAGES[name]
    check = page.with_name('_check_' + page.name)
    check.write_text(page.read_text().replace('</body>', CHECK + '</body>'))
    r = _browser('--dump-dom', check.as_uri())
    m = re.search(r'<pre id="coda-check">(.*?)</pre>', r.stdout, re.S)
    assert m, f'no result from Chromium: {r.stderr[-2000:]}'
    res = json.loads(html.unescape(m.group(1)))
    broken = [i for i in res['imgs'] if not (i[1] > 0 and i[2] > 0)]
    assert not broken, f'{name}: images that did not load: {broken}'
    assert res['tracebacks'] == 0, f'{name}: error output shown'
    if name == 'results': assert res['imgs'], 'results: no figure'
    if name in ('discovery', 'alignment'):
        assert res['math'] > 0 and res['math'] >= res['raw_math'], f'{name}: equations not typeset ({res})'
        assert len(res['imgs']) > 0 or not _promises_figure(name), f'{name}: no figure'
    shots = Path(os.environ.get('CODA_DOCS_SHOTS', tmp_path/'shots')); shots.mkdir(parents=True, exist_ok=True)
    r = _browser(f'--screenshot={shots/(name + ".png")}', '--window-size=1280,1800', page.as_uri())
    assert (shots/f'{name}.png').exists() and (shots/f'{name}.png').stat().st_size > 10_000, r.stderr[-2000:]

def _promises_figure(name):
    "Whether the executed notebook of this page has a figure output (then the page must show it)."
    nb = {'discovery': '30_discover', 'alignment': '40_align'}[name]
    return any('image/png' in p.read_text() for p in (ROOT/'nbs'/f'{nb}.ipynb', HTML.parent/'executed'/f'{nb}.ipynb') if p.exists())

def test_results_pages_include_every_committed_offline_run():
    "The Results section lists the main job and each committed offline and auto_grid run folder, beyond-the-paper runs marked."
    runs = stage._runs()
    names = [f'{d.parent.name}/{d.name}' for _, d, _, _ in runs]
    committed = sorted(f'{d.parent.name}/{d.name}' for e in ('offline', 'auto_grid') for d in (ROOT/'results'/e).glob('ipc*')
                       if (d/f'{e}.ipynb').exists())
    assert names[0] == 'mini/main' and sorted(names[1:]) == committed
    assert all(t.endswith('(beyond the paper)') == (d.name.endswith('_beyond') or d.parent.name == 'auto_grid') for _, d, t, _ in runs[1:])
    assert all((d/nb).name in ('offline.ipynb', 'auto_grid.ipynb') for _, d, _, nb in runs)

def test_clean_run_drops_machine_paths_bars_and_warnings():
    "A run notebook's page shows its own folder as out_dir, no tqdm bar and no Python warning, and keeps the printed lines."
    params = dict(cell_type='code', metadata=dict(tags=['injected-parameters']), outputs=[],
                  source='# Parameters\nipc = 10\nout_dir = "/tmp/off/results/auto_grid/ipc10"\n')
    warn = '/work/main/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found.\n  from .autonotebook import tqdm\n'
    run = dict(cell_type='code', metadata={}, source='x', outputs=[
        dict(output_type='stream', name='stdout', text='dataset: fashion-mnist\n'),
        dict(output_type='stream', name='stderr', text=warn + 'sets:  50%|#####     | 1/2 [00:03<00:03,  3.1s/it]\n')])
    nb = stage.clean_run(dict(cells=[params, run]), 'results/auto_grid/ipc10')
    assert 'out_dir = "results/auto_grid/ipc10"' in nb['cells'][0]['source'] and 'ipc = 10' in nb['cells'][0]['source']
    assert [o['text'] for o in nb['cells'][1]['outputs']] == ['dataset: fashion-mnist\n']
