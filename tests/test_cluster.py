"""Batch reproduction beyond one process (issue 28): the local pool (`--jobs`), submitit's local executor
(`--cluster local`) and a real single-node Slurm (`--cluster slurm`) write what the sequential runner writes.

The `slurm` fixture installs Debian's slurm-wlm and munge (when root and apt-get are there), starts munged,
slurmctld and slurmd on this machine, loopback only, from configuration files it writes under a temporary
folder (`SLURM_CONF` points at them), and stops them afterwards. Where Slurm cannot be started the Slurm tests
are skipped with one line saying why; the other tests always run. Progress lines start with `[slurm]`
(`pytest -s` shows them)."""
import json, os, shutil, signal, socket, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest, yaml
from coda.reproduce import reproduce
from coda.cluster import check_cluster, CLAIM, JOB
from coda.core import UserError

ROOT = Path(__file__).resolve().parents[1]
TIMING = {'wall_s'}   # fields that differ between any two runs

def _log(msg): print(f'[slurm] {time.strftime("%H:%M:%S")} {msg}', flush=True)

# ---------------------------------------------------------------- a toy project (fast: execnb in process)
def toy_project(root:Path) -> Path:
    "A project with a notebook that sleeps `wait` s, fails on request, else writes seeds.csv and metrics.json; experiment `toy`."
    root.mkdir(parents=True, exist_ok=True); (root/'settings.ini').write_text('[DEFAULT]\n')
    src = ('import time, pandas as pd\nfrom coda.paper import finish_run\nassert not fail, "asked to fail"\ntime.sleep(wait)\n'
           'finish_run(out_dir, dict(y=2*x, smoke=smoke, wall_s=time.process_time()), pd.DataFrame(dict(seed=seeds, acc=[50.0 + x + s for s in seeds])))')
    cells = [dict(cell_type='code', metadata=dict(tags=['parameters']), outputs=[], execution_count=None,
                  source='x = 1\nfail = False\nwait = 0\nseeds = [0, 1]\nout_dir = "o"\nsmoke = False'),
             dict(cell_type='code', metadata={}, outputs=[], execution_count=None, source=src)]
    nb = dict(cells=cells, metadata=dict(kernelspec=dict(display_name='python3', language='python', name='python3')), nbformat=4, nbformat_minor=5)
    (root/'nbs').mkdir(exist_ok=True); (root/'nbs'/'toy.ipynb').write_text(json.dumps(nb)); (root/'experiments').mkdir(exist_ok=True)
    runs = [dict(name='bad', notebook='nbs/toy.ipynb', parameters=dict(fail=True))]
    runs += [dict(name=f'x{i}', notebook='nbs/toy.ipynb', parameters=dict(x=i)) for i in (1, 2, 3)]
    (root/'experiments'/'toy.yaml').write_text(yaml.safe_dump(dict(name='toy', paper='Table 0', runs=runs)))
    return root

def cli(root, *args, timeout=1800):   # generous: a loaded 2-core machine runs the toy pool for minutes
    "Run the coda_reproduce console script in `root` (this checkout's coda first on the path)."
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep), OMP_NUM_THREADS='1')
    script = Path(root)/'coda_reproduce'   # named as the console script, so user errors print one line
    if not script.exists(): script.write_text('from coda.reproduce import main\nmain()\n')
    cmd = [sys.executable, str(script), *map(str, args)]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=timeout)

def same_results(a:Path, b:Path, runs=None):
    "Two experiment folders hold the same results: every CSV and metrics.json equal (less timing fields), the same files."
    files = lambda d: {p.relative_to(d) for p in d.rglob('*') if p.is_file() and not any(q.startswith('.') for q in p.relative_to(d).parts)}
    fa, fb = files(a), files(b)
    extra = {JOB, CLAIM}   # a cluster run also records its job
    assert {f for f in fa if f.name not in extra} == {f for f in fb if f.name not in extra}, (fa ^ fb)
    n = 0
    for f in sorted(fa):
        if runs is not None and f.parts[0] not in runs and len(f.parts) > 1: continue
        if f.suffix == '.csv':
            x, y = pd.read_csv(a/f), pd.read_csv(b/f)
            x, y = x.drop(columns=[c for c in x if c in TIMING]), y.drop(columns=[c for c in y if c in TIMING])
            pd.testing.assert_frame_equal(x, y); n += 1
        elif f.name == 'metrics.json':
            x, y = (json.loads((d/f).read_text()) for d in (a, b))
            assert {k: v for k, v in x.items() if k not in TIMING} == {k: v for k, v in y.items() if k not in TIMING}, f; n += 1
    return n

@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "The toy project and its sequential results (`seq/toy`)."
    root = toy_project(tmp_path_factory.mktemp('toy'))
    st = reproduce('toy', root/'seq', root=root, executor='inprocess', log=None)
    assert st.status.tolist() == ['failed', 'done', 'done', 'done']
    return root

# ---------------------------------------------------------------- the local pool and submitit's local executor
def test_pool_equals_sequential(toy):
    r = cli(toy, 'toy', '--jobs', '2', '--gpus', '', '--executor', 'inprocess', '--results', toy/'pool')
    assert r.returncode == 1, r.stderr                             # the exit status: one failed run
    assert 'bad: AssertionError: asked to fail (log: ' in r.stderr and '.logs/bad.log' in r.stderr, r.stderr
    assert same_results(toy/'seq'/'toy', toy/'pool'/'toy') >= 7   # 3 seeds.csv, 3 metrics.json, summary.csv
    r = cli(toy, 'toy', '--jobs', '2', '--gpus', '', '--executor', 'inprocess', '--results', toy/'pool', '--only', 'x1,x2')
    assert r.returncode == 0 and r.stdout.count(': skipped') == 2, r.stdout   # resume: finished runs are skipped

def test_cluster_local_equals_sequential(toy):
    r = cli(toy, 'toy', '--cluster', 'local', '--executor', 'inprocess', '--results', toy/'local')
    assert r.returncode == 1 and 'bad: AssertionError: asked to fail' in r.stderr, r.stderr
    assert same_results(toy/'seq'/'toy', toy/'local'/'toy') >= 7
    job = json.loads((toy/'local'/'toy'/'x1'/JOB).read_text())
    assert job['cluster'] == 'local' and job['status'] == 'done' and Path(job['stdout']).exists()
    assert not (toy/'local'/'toy'/'x1'/CLAIM).exists()

def test_what_is_missing_is_one_line(toy, monkeypatch):
    r = cli(toy, 'toy', '--jobs', '0', '--results', toy/'none')
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ['coda_reproduce: error: --jobs 0: no worker to run on; give --jobs 1 or more'], r.stderr
    env_path = os.environ['PATH']; monkeypatch.setenv('PATH', str(Path(sys.executable).parent))   # no sbatch there
    r = cli(toy, 'toy', '--cluster', 'slurm', '--results', toy/'none')
    monkeypatch.setenv('PATH', env_path)
    if not shutil.which('sbatch', path=str(Path(sys.executable).parent)):
        assert r.returncode == 2 and r.stderr.strip().splitlines() == ['coda_reproduce: error: --cluster slurm: no sbatch on the PATH (run on a Slurm login node, or use --cluster local)'], r.stderr
    assert not (toy/'none').exists()                               # nothing submitted, nothing written
    monkeypatch.setitem(sys.modules, 'submitit', None)             # submitit not installed
    with pytest.raises(UserError, match=r'needs submitit: pip install "coda\[cluster\]"'): check_cluster('local')

# ---------------------------------------------------------------- a real single-node Slurm
SLURM_CONF = """ClusterName=coda
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
CommunicationParameters=NoInAddrAny,NoInAddrAnyCtld
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
KillWait=5
MinJobAge=60
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _install_slurm() -> str:
    "Install slurm-wlm and munge with apt-get if they are missing; '' if done, else why not."
    if all(shutil.which(x) for x in ('sbatch', 'slurmctld', 'slurmd', 'munged')): return ''
    if os.geteuid() != 0 or not shutil.which('apt-get'): return 'Slurm is not installed and this is not root with apt-get'
    _log('installing slurm-wlm and munge with apt-get')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for cmd in (['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', 'slurm-wlm', 'munge']):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode: return f"{' '.join(cmd)} failed: {(r.stderr.strip().splitlines() or [''])[-1]}"
    return ''

def _listening() -> str:
    "Where slurmctld and slurmd listen (`ss`), to show that it is loopback only."
    ss = subprocess.run(['ss', '-ltnpH'], capture_output=True, text=True).stdout if shutil.which('ss') else ''
    addrs = [' '.join((l.split('"')[1], l.split()[3])) for l in ss.splitlines() if 'slurmctld' in l or 'slurmd' in l]   # name address:port
    return f"; listening: {', '.join(addrs)}" if addrs else ''

def _start_slurm(d:Path) -> str:
    "Write the configuration under `d` and start munged, slurmctld and slurmd; '' once the node is idle, else why not."
    (d/'state').mkdir(); (d/'spool').mkdir()
    (d/'munge.key').write_bytes(os.urandom(1024)); os.chmod(d/'munge.key', 0o600)
    mem = int(int(next(l.split()[1] for l in open('/proc/meminfo') if l.startswith('MemTotal'))) / 1024 * 0.5)
    (d/'slurm.conf').write_text(SLURM_CONF.format(d=d, ctld_port=_free_port(), d_port=_free_port(), mem=mem))
    os.environ['SLURM_CONF'] = str(d/'slurm.conf')
    for cmd in (['munged', f'--socket={d}/munge.sock', f'--key-file={d}/munge.key', f'--pid-file={d}/munged.pid',
                 f'--log-file={d}/munged.log', f'--seed-file={d}/munge.seed', '--force'],
                ['slurmctld'], ['slurmd', '-N', 'localhost']):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: return f"{cmd[0]} did not start: {(r.stderr.strip().splitlines() or ['exit status %d' % r.returncode])[-1]}"
        _log(f'started {cmd[0]}')
    for _ in range(60):
        r = subprocess.run(['sinfo', '-h', '-o', '%T'], capture_output=True, text=True)
        if r.stdout.strip() == 'idle': _log('node localhost is idle' + _listening()); return ''
        time.sleep(1)
    return f"the node did not come up (sinfo: {r.stdout.strip() or r.stderr.strip()}); see {d}/slurmctld.log"

def _stop_slurm(d:Path):
    "Cancel every job, stop the daemons this fixture started (by their pid files)."
    subprocess.run(['scancel', '--user', 'root'], capture_output=True)
    for name in ('slurmd', 'slurmctld', 'munged'):
        f = d/f'{name}.pid'
        if f.exists():
            try: os.kill(int(f.read_text().split()[0]), signal.SIGTERM); _log(f'stopped {name}')
            except (ProcessLookupError, ValueError): pass

@pytest.fixture(scope='session')
def slurm(tmp_path_factory):
    "A single-node Slurm cluster on this machine, for the session."
    why = _install_slurm()
    if why: pytest.skip(f'no Slurm: {why}')
    d = tmp_path_factory.mktemp('slurm'); old = os.environ.get('SLURM_CONF')
    try:
        why = _start_slurm(d)
        if why: pytest.skip(f'no Slurm: {why}')
        yield d
    finally:
        _stop_slurm(d)
        if old is None: os.environ.pop('SLURM_CONF', None)
        else: os.environ['SLURM_CONF'] = old

def _squeue() -> list:
    r = subprocess.run(['squeue', '-h', '-o', '%i %j %T'], capture_output=True, text=True)
    return [l.split() for l in r.stdout.strip().splitlines()]

def test_slurm_equals_sequential(toy, slurm):
    _log('submitting toy (4 runs, one failing) with --cluster slurm')
    t0 = time.time()
    r = cli(toy, 'toy', '--cluster', 'slurm', '--executor', 'inprocess', '--results', toy/'slurm', '--cpus_per_run', '1')
    _log(f'coda_reproduce returned {r.returncode} after {time.time() - t0:.0f} s:\n' + r.stdout + r.stderr[-2000:])
    assert r.returncode == 1 and 'bad: AssertionError: asked to fail' in r.stderr, r.stderr
    n = same_results(toy/'seq'/'toy', toy/'slurm'/'toy')
    _log(f'{n} CSV / metrics.json files equal to the sequential run')
    assert n >= 7
    for run in ('x1', 'x2', 'x3'):
        job = json.loads((toy/'slurm'/'toy'/run/JOB).read_text())
        assert job['cluster'] == 'slurm' and job['status'] == 'done' and Path(job['stdout']).exists(), job
        assert not (toy/'slurm'/'toy'/run/CLAIM).exists()
        _log(f"{run}: job {job['job_id']}, log {job['stdout']}")

def _wait_for(pred, what, timeout=600):
    for _ in range(int(timeout*2)):
        if pred(): return
        time.sleep(0.5)
    raise AssertionError(f'timed out waiting for {what}; squeue: {_squeue()}')

def test_slurm_cancel_and_resubmit(toy, slurm):
    res = toy/'slurm2'; args = ['toy', '--cluster', 'slurm', '--executor', 'inprocess', '--results', res, '--only', 'x1,x2,x3', '-p', 'wait=15']
    r = cli(toy, *args, '--no_wait')
    _log('--no_wait submission:\n' + r.stdout)
    assert r.returncode == 0 and r.stdout.count(': submitted') == 3, r.stdout + r.stderr
    claims = {run: json.loads((res/'toy'/run/CLAIM).read_text())['job_id'] for run in ('x1', 'x2', 'x3')}
    r = cli(toy, *args, '--no_wait')                                # a second submission starts nothing new
    _log('second --no_wait submission (claims respected):\n' + r.stdout)
    assert r.returncode == 0 and 'submitted' not in r.stdout and len(_squeue()) == 3, r.stdout
    jid = claims['x1']
    _wait_for(lambda: any(j[0] == jid and j[2] == 'RUNNING' for j in _squeue()), f'job {jid} to run')
    _log(f'cancelling job {jid} (x1) midway: squeue {_squeue()}')
    subprocess.run(['scancel', jid], check=True)
    _wait_for(lambda: not any(j[0] == jid for j in _squeue()), f'job {jid} to end')
    st = cli(toy, 'toy', '--status', '--results', res, '--only', 'x1,x2,x3', '-p', 'wait=15')
    _log('--status after the cancel:\n' + st.stdout + st.stderr)
    assert 'ended without finishing' in st.stderr and st.returncode >= 1
    r = cli(toy, *args)                                            # re-submission: x1 again, the others left to their jobs
    _log(f're-submission returned {r.returncode}:\n' + r.stdout + r.stderr[-1000:])
    assert r.returncode == 0, r.stdout + r.stderr
    assert [json.loads((res/'toy'/f'x{i}'/'metrics.json').read_text())['y'] for i in (1, 2, 3)] == [2, 4, 6]
    new = json.loads((res/'toy'/'x1'/JOB).read_text())['job_id']
    assert new != jid and all(json.loads((res/'toy'/f'x{i}'/JOB).read_text())['job_id'] == claims[f'x{i}'] for i in (2, 3))
    _log(f'x1 finished by job {new} after job {jid} was cancelled; x2, x3 by their first jobs')
    assert pd.read_csv(res/'toy'/'summary.csv').y.tolist() == [2, 4, 6]

# ---------------------------------------------------------------- verify
def test_verify(toy, tmp_path):
    res = tmp_path/'committed'; shutil.copytree(toy/'seq', res)
    r = cli(toy, 'toy', '--verify', '--seeds', '0', '--results', res, '--executor', 'inprocess')
    assert r.returncode == 0 and 'all 3 value(s) within 2.0' in r.stdout, r.stdout + r.stderr
    f = res/'toy'/'x2'/'seeds.csv'; df = pd.read_csv(f); df.loc[df.seed == 0, 'acc'] += 2.5; df.to_csv(f, index=False)   # a change beyond the tolerance
    r = cli(toy, 'toy', '--verify', '--only', 'x2', '--results', res, '--executor', 'inprocess')
    assert r.returncode == 1 and '1 of 2 value(s) differ by more than 2.0' in r.stdout, r.stdout + r.stderr
    assert cli(toy, 'toy', '--verify', '--only', 'x2', '--tol', '3', '--results', res, '--executor', 'inprocess').returncode == 0
