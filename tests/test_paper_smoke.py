"Every experiment YAML is valid, and the first run of each runs end to end through papermill in smoke mode (tiny offline data and pipelines), with no error cell."
import json
from pathlib import Path
import pytest
from coda.reproduce import load_experiment, validate_experiment, reproduce, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
EXPS = sorted(p.stem for p in (ROOT/'experiments').glob('*.yaml'))
PAPER = sorted((ROOT/'nbs'/'paper').glob('*.ipynb'))

def test_paper_folder_is_skipped_by_nbdev_test():
    assert (ROOT/'nbs'/'paper'/'.notest').exists()

@pytest.mark.parametrize('exp', EXPS)
def test_experiment_yaml(exp):
    e = load_experiment(exp, ROOT)
    assert e['paper'] and e['runs'], f'{exp}: needs a paper table/figure and at least one run'
    assert validate_experiment(e, ROOT) == []

@pytest.mark.parametrize('nb', PAPER, ids=[p.stem for p in PAPER])
def test_paper_notebook_parameters(nb):
    p = notebook_parameters(nb)                   # literals only: ast.literal_eval of every assignment
    assert p['smoke'] is False and 'out_dir' in p

def _errors(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    return [o for c in nb['cells'] for o in c.get('outputs', []) if o.get('output_type') == 'error']

@pytest.mark.parametrize('exp', EXPS)
def test_smoke_first_run(exp, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    e = load_experiment(exp, ROOT)
    run = e['runs'][0]
    st = reproduce(exp, tmp_path, smoke=True, only=run['name'], root=ROOT, executor='papermill', log=None)
    out = tmp_path/'smoke'/e['name']/run['name']
    assert st.status.tolist() == ['done'], st.error.tolist()
    assert _errors(out/Path(run['notebook']).name) == []
    assert (out/'metrics.json').exists() and (tmp_path/'smoke'/e['name']/'summary.csv').exists()

def test_main_job_records_its_dataset(tmp_path, monkeypatch):
    "The dataset `offline` resolved to is in config.json, metrics.json (`dataset`) and summary.csv, and printed first."
    monkeypatch.chdir(ROOT)
    st = reproduce('mini', tmp_path, smoke=True, root=ROOT, executor='papermill', log=None)
    assert st.status.tolist() == ['done'], st.error.tolist()
    out = tmp_path/'smoke'/'mini'/'main'
    cfg, met = json.loads((out/'config.json').read_text()), json.loads((out/'metrics.json').read_text())
    assert cfg['dataset'] == met['dataset'] == 'digits'          # the smoke run uses digits
    import pandas as pd
    assert pd.read_csv(tmp_path/'smoke'/'mini'/'summary.csv')['dataset'].tolist() == ['digits']
    nb = json.loads((out/'offline.ipynb').read_text())
    first = next(''.join(o['text']) for c in nb['cells'] for o in c.get('outputs', []) if o.get('name') == 'stdout')
    assert first.startswith('dataset: digits'), first
    for k in ('n_seeds', 'wall_s', 'ipc2.random', 'ipc2.kmeans', 'ipc2.coda_R', 'ipc2.coda_G'): assert k in met, k

def test_auto_grid_records_paired_differences_and_its_machine(tmp_path, monkeypatch):
    "auto_grid's paired differences average to the differences of the means (auto − best cell = auto − grid best; − mean over cells), and it writes environment.json."
    monkeypatch.chdir(ROOT)
    st = reproduce('auto_grid', tmp_path, smoke=True, only='ipc10', root=ROOT, executor='papermill', log=None)
    assert st.status.tolist() == ['done'], st.error.tolist()
    out = tmp_path/'smoke'/'auto_grid'/'ipc10'
    met, env = json.loads((out/'metrics.json').read_text()), json.loads((out/'environment.json').read_text())
    import pandas as pd
    grid = pd.read_csv(out/'grid.csv')
    assert met['auto-best'] == pytest.approx(met['auto'] - met['grid_best'], abs=0.011)
    assert met['auto-mean'] == pytest.approx(met['auto'] - grid.acc.mean(), abs=0.011)
    assert grid.set_index(['n_neighbors', 'min_cluster_size']).acc[tuple(met['best_cell'])] == pytest.approx(met['grid_best'], abs=0.006)
    assert env['cpus'] >= 1 and 'torch' in env['versions']
