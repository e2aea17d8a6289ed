"A user's install: the wheel (no extras) in a fresh virtualenv, `coda_reproduce` in an empty directory."
import json, subprocess, sys, sysconfig, venv
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def wheel_env(tmp_path_factory):
    "A fresh venv holding only the coda wheel; its dependencies come from this venv's site-packages (no network)."
    tmp = tmp_path_factory.mktemp('wheel')
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp/'dist'), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    whl = next((tmp/'dist').glob('coda-*.whl'))
    venv.create(tmp/'env', with_pip=True)
    py = tmp/'env'/'bin'/'python'
    site = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], capture_output=True, text=True).stdout.strip()
    (Path(site)/'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')   # a plain path: the editable coda there is not loaded
    r = subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', str(whl)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    empty = tmp/'empty'; empty.mkdir()
    return tmp/'env'/'bin', empty

def test_wheel_coda_is_the_installed_copy(wheel_env):
    bin_, empty = wheel_env
    r = subprocess.run([str(bin_/'python'), '-c', 'import coda; print(coda.__file__)'], cwd=empty, capture_output=True, text=True)
    assert str(ROOT) not in r.stdout and 'site-packages' in r.stdout, r.stdout + r.stderr

def test_wheel_lists_every_experiment(wheel_env):
    bin_, empty = wheel_env
    r = subprocess.run([str(bin_/'coda_reproduce'), '--list'], cwd=empty, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    for e in sorted(p.stem for p in (ROOT/'experiments').glob('*.yaml')): assert f'\n{e}:' in '\n' + r.stdout or f' {e} ' in r.stdout, e
    assert (subprocess.run([str(bin_/'coda_reproduce'), '--version'], cwd=empty, capture_output=True, text=True).stdout.startswith('coda '))

def test_wheel_runs_the_main_job_smoke(wheel_env):
    bin_, empty = wheel_env
    r = subprocess.run([str(bin_/'coda_reproduce'), 'mini', '--smoke', '-p', 'n_jobs=1'], cwd=empty, capture_output=True, text=True,
                       env={'PATH': f'{bin_}:/usr/bin:/bin', 'HOME': str(empty), 'TQDM_DISABLE': '1', 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = empty/'results'/'smoke'/'mini'/'main'
    assert json.loads((out/'metrics.json').read_text())['dataset'] == 'digits'
    assert json.loads((out/'config.json').read_text())['overrides'] == {'n_jobs': 1}
