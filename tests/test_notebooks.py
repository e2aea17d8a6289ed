"Run every library notebook's cells as tests (nbdev's test_nb), one pytest case per notebook."
import os, sys
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_nb
from nbdev.config import get_config

NBS = Path(__file__).resolve().parents[1]/'nbs'
_nbs = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))

@pytest.mark.parametrize('nb', _nbs, ids=[p.stem for p in _nbs])
def test_notebook(nb, capsys):
    skip = get_config().tst_flags.split()   # notest slow gpu
    ok, secs = run_nb(nb, skip_flags=skip, showerr=True)
    assert ok, f'{nb.name} failed: see the traceback above'
