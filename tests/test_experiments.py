"""Every experiment runs the paper's settings (issue 15). For each run of each experiment YAML: the resolved discovery
parameters are the (dataset, IPC) table's, (γ, PIS, steps, form) the cell of the number it quotes, the evaluation
protocol the table's, the discovery size the table's (`coda.paper_settings.check_run`). Reads the YAMLs and the
notebooks' parameter cells only; executes nothing."""
from pathlib import Path
import pytest
from coda.reproduce import load_experiment, notebook_parameters
from coda.paper_settings import check_run, run_settings, NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {'offline', 'mini', 'mini_grid', 'auto_grid'}   # the offline benchmark (beyond the paper): its own notebooks, data and DC protocol
EXPS = sorted(p.stem for p in (ROOT/'experiments').glob('*.yaml'))
RUNS = [(e, r) for e in EXPS if e not in OFFLINE for r in load_experiment(e, ROOT)['runs']]

def _params(run):
    "The run's parameters as its notebook sees them: the parameters cell updated by the YAML's."
    return notebook_parameters(ROOT/run['notebook']) | run['parameters']

def _nb(run): return Path(run['notebook']).stem

def test_every_paper_run_is_checked():
    assert set(EXPS) - OFFLINE, 'no paper experiments found'
    assert {_nb(r) for _, r in RUNS} <= set(NOTEBOOKS), 'a paper notebook unknown to coda.paper_settings.NOTEBOOKS'
    for e in OFFLINE & set(EXPS):
        assert all(_nb(r) in ('offline', 'mini_grid', 'auto_grid') for r in load_experiment(e, ROOT)['runs']), e

@pytest.mark.parametrize('exp,run', RUNS, ids=[f"{e}/{r['name']}" for e, r in RUNS])
def test_run_uses_the_paper_settings(exp, run):
    assert check_run(exp, _nb(run), _params(run)) == []

# A few runs spelled out from the paper's text, so that a wrong entry in coda.paper_settings' tables fails here too.
EXPECTED = {
    ('table1', 'idc-ipc10-coda'): dict(n_neighbors=90, min_cluster_size=55, gamma=0.10, pis=5, steps=50, form='reference', protocol='authors'),  # A.3, Table 12
    ('table1', 'nette-ipc10-coda'): dict(n_neighbors=90, min_cluster_size=55),                                  # A.3
    ('table1', 'idc-ipc50-coda'): dict(min_cluster_size=15, gamma=0.08, pis=20, steps=50),                      # A.5, Table 13
    ('table3', 'imagenet-a'): dict(n_neighbors=85, min_cluster_size=55),                                        # A.3
    ('table7', 'coda'): dict(n_neighbors=90, min_cluster_size=55),                                              # A.3 (Places365)
    ('table10', 'vae-umap-coda'): dict(resolution=224, gamma=0.10, pis=5),                                      # Table 10: 3136-d
    ('table11', 'idc-ipc10-dit-coda'): dict(gamma=1.0, pis=15, form='paper'),                                   # §5, A.14
    ('table11', 'woof-ipc50-dit-coda'): dict(gamma=0.8, pis=8, form='paper'),                                   # §5, A.14
    ('table4', 'imagenet1k-ipc10'): dict(n_neighbors=85, min_cluster_size=55, protocol='soft-rded'),            # A.3, RDED
    ('table23', 'idc-ipc50'): dict(gamma=0.08, pis=20, protocol='authors'),                                     # Table 13's 77.6
    ('fig16', 'springer-tabby'): dict(n_neighbors=85, min_cluster_size=55, resolution=1024),                    # A.3 (ImageNet-1K)
}

@pytest.mark.parametrize('key', list(EXPECTED), ids=['/'.join(k) for k in EXPECTED])
def test_spelled_out_runs(key):
    run = next(r for r in load_experiment(key[0], ROOT)['runs'] if r['name'] == key[1])
    s = run_settings(_nb(run), _params(run))
    assert {k: s.get(k) for k in EXPECTED[key]} == EXPECTED[key]

def test_table11_has_imagewoof():
    names = {r['name'] for r in load_experiment('table11', ROOT)['runs']}
    assert {f'woof-ipc{i}-dit{s}' for i in (10, 20, 50) for s in ('', '-coda')} <= names

def test_no_run_at_the_old_cell():
    "γ 0.05 / PIS 10 (58.0 and 74.9 in the paper's grids) is no quoted number's cell."
    old = [f"{e}/{r['name']}" for e, r in RUNS if (r['parameters'].get('gamma'), r['parameters'].get('pis')) == (0.05, 10)]
    assert old == []

@pytest.mark.parametrize('nb', sorted(n for n, d in NOTEBOOKS.items() if d.get('discover') and d.get('sweep') != 'discovery'))
def test_notebook_resolves_through_the_table(nb):
    "A discovering notebook takes its n_neighbors / min_cluster_size from coda.paper_settings, not from an IPC-only rule."
    src = (ROOT/'nbs'/'paper'/f'{nb}.ipynb').read_text()
    assert 'run_settings(' in src and 'default_params(' not in src
    p = notebook_parameters(ROOT/'nbs'/'paper'/f'{nb}.ipynb')
    assert p.get('n_neighbors') is None and p.get('min_cluster_size') is None, 'the two parameters default to the table (None)'
