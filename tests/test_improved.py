"""Issue 13 at the command line and in the pipeline: `--variant improved`, `--n_neighbors auto --min_cluster_size auto`, the
chosen values in each class's selection record, and the bad values refused with one line before any work."""
import json
import pytest
from coda.core import UserError
from coda.pipeline import check_discover_args
from test_stage_contract import run      # a console script of this venv, as a subprocess

def test_check_discover_args_accepts_auto_and_improved():
    check_discover_args(10, n_neighbors='auto', min_cluster_size='auto', variant='improved')
    with pytest.raises(UserError, match="n_neighbors='many': must be an integer ≥ 2 or 'auto'"): check_discover_args(10, n_neighbors='many')
    with pytest.raises(UserError, match='min_cluster_size=1: must be an integer ≥ 2'): check_discover_args(10, min_cluster_size=1)

def test_cli_refuses_a_bad_auto_value(tmp_path):
    r = run('coda_discover', '--dataset', 'digits', '--n_neighbors', 'many', '--out', tmp_path/'run', cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == "coda_discover: error: n_neighbors='many': must be an integer ≥ 2 or 'auto'"
    assert not (tmp_path/'run').exists()

def test_cli_improved_auto_records_its_choice(tmp_path):
    out = tmp_path/'run'
    r = run('coda_discover', '--dataset', 'digits', '--per_class', 40, '--ipc', 3, '--encoder', 'pixel', '--classes', '0,1',
            '--variant', 'improved', '--n_neighbors', 'auto', '--min_cluster_size', 'auto', '--out', out,
            '--cache', tmp_path/'cache', '--quiet', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    sels = sorted(out.rglob('*.json'))
    infos = [json.loads(f.read_text())['info'] for f in sels if 'indices' in json.loads(f.read_text())]
    assert len(infos) == 2
    for i in infos:
        # 40 rows: n_neighbors 50 and 85 both cap to 39, so 3 distinct UMAPs x 4 sizes
        assert i['variant'] == 'improved' and len(i['auto']['table']) == 3*4 and i['auto']['criterion'] == 'coverage'
        assert i['n_neighbors'] == i['auto']['chosen']['n_neighbors'] and i['min_cluster_size'] == i['auto']['chosen']['min_cluster_size']
        assert min(t['coverage'] for t in i['auto']['table']) == next(t['coverage'] for t in i['auto']['table']
                   if t['n_neighbors'] == i['n_neighbors'] and t['min_cluster_size'] == i['min_cluster_size'])
