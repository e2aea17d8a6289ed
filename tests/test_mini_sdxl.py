"The shipped mini SDXL (issue 24): the folder checks, loads with diffusers' own `from_pretrained`, and draws a fixed image for a fixed seed."
import json, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT/'tests'/'data'/'mini_sdxl_seed0.png'   # written by `python tests/test_mini_sdxl.py` from the shipped weights


def _sample(pipe):
    "Image 0 of class 'sneaker' (seed 0), 10 DPM++ 2M Karras steps, CFG 5, as uint8 H×W×3."
    g = torch.Generator().manual_seed(0)
    return (pipe('sneaker', num_inference_steps=10, guidance_scale=5.0, generator=g, output_type='np').images[0] * 255).round().astype(np.uint8)


@pytest.fixture(scope='module')
def mini():
    from coda.minisdxl import mini_folder
    return mini_folder()


def test_shipped_folder_matches_its_record_and_size_budget(mini):
    rec = json.loads((mini/'record.json').read_text())
    files = [mini/f for f in rec['files']]
    assert all(f.is_file() for f in files) and sum(f.stat().st_size for f in files) <= 25e6
    assert rec['steps'] == dict(vae=rec['recipe']['vae_steps'], unet=rec['recipe']['unet_steps'])
    assert rec['data']['n'] == 60000 and len(rec['loss']['unet']) > 10
    assert all(f.suffix != '.bin' for f in files)                        # safetensors only


def test_stock_sdxl_pipeline_loads_it_and_a_seed_fixes_the_image(mini):
    from diffusers import StableDiffusionXLPipeline
    pipe = StableDiffusionXLPipeline.from_pretrained(mini); pipe.set_progress_bar_config(disable=True)
    assert type(pipe.scheduler).__name__ == 'DPMSolverMultistepScheduler' and pipe.scheduler.config.use_karras_sigmas
    a = _sample(pipe)
    np.testing.assert_array_equal(a, _sample(pipe))                      # same process, same seed: same bytes
    ref = np.asarray(Image.open(REF).convert('RGB'))
    d = np.abs(a.astype(int) - ref.astype(int))
    assert d.mean() < 2.0 and np.quantile(d, 0.99) <= 16, (d.mean(), d.max())   # another machine: float rounding only


def test_model_mini_resolves_through_coda_loaders(mini):
    from coda.align import load_pipeline, _load_id
    from coda.encode import get_encoder
    enc = get_encoder('vae', 'mini')
    assert enc.resolution == 32 and enc.key['model']['hub'] == 'mini' and len(enc.key['model']['sha256']) == 64
    pipe = load_pipeline('mini')
    assert Path(pipe.config._name_or_path) == mini and _load_id('mini', None, {})['model'] == enc.key['model']


def test_a_changed_weight_file_is_refused_in_one_line(tmp_path, mini):
    import shutil
    dst = tmp_path/mini.name; shutil.copytree(mini, dst)
    w = dst/'vae'/'diffusion_pytorch_model.safetensors'; b = bytearray(w.read_bytes()); b[100] ^= 1; w.write_bytes(bytes(b))
    r = subprocess.run([sys.executable, '-c', 'from coda.encode import get_encoder; get_encoder("vae", "mini")'],
                       capture_output=True, text=True, env={**__import__('os').environ, 'CODA_MINI_ROOT': str(tmp_path)})
    assert r.returncode != 0 and 'does not match its sha256' in r.stderr and 'coda_train_mini' in r.stderr


if __name__ == '__main__':   # (re)write the reference image from the shipped weights
    from coda.minisdxl import mini_folder
    from diffusers import StableDiffusionXLPipeline
    p = StableDiffusionXLPipeline.from_pretrained(mini_folder()); p.set_progress_bar_config(disable=True)
    REF.parent.mkdir(exist_ok=True); Image.fromarray(_sample(p)).save(REF); print(REF)
