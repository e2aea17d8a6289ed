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
    out = tmp_path/e['name']/run['name']
    assert st.status.tolist() == ['done'], st.error.tolist()
    assert _errors(out/Path(run['notebook']).name) == []
    assert (out/'metrics.json').exists() and (tmp_path/e['name']/'summary.csv').exists()
