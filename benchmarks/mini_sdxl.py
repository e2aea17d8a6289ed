"""How good is the shipped mini SDXL? A classifier trained on the real Fashion-MNIST training set scores
(1) the test set, (2) the mini VAE's reconstructions of the test set, and (3) images the stock pipeline generates
from the class prompts (gamma = 0, no CoDA guidance; the classification accuracy score, CAS).

Goals (issue 24): reconstructions >= 0.95 x the accuracy on the originals; generated images >= 80 %.

    python benchmarks/mini_sdxl.py [--per_class 100] [--epochs 10] [--steps 25] [--cfg 5] [--out results/mini_sdxl]

The classifier is the project's evaluation network (ConvNet-3, width 32, instance norm) trained under DC's
hyper-parameters (SGD 0.01, momentum 0.9, wd 5e-4, batch 256, lr x 0.1 at half-time, no augmentation) on all
60,000 training images, for `--epochs` epochs (DC's 300 are for 10-image sets). Prints a table; its last line is
`mini_sdxl recon_ratio <x.xxx> cas <x.x> real <x.x>`.
"""
import argparse, json, time
from pathlib import Path
import numpy as np, torch
from PIL import Image


def classifier(x, y, xv, yv, epochs, seed=0):
    "ConvNet-3 (width 32) trained with DC's hyper-parameters on the real training set."
    from coda.evaluate import train_hard, dc_params, OFFLINE_WIDTH
    from coda.models import get_model
    torch.manual_seed(seed)
    net = get_model('ConvNet-3', in_ch=1, n_classes=10, im_size=28, width=OFFLINE_WIDTH)
    r = train_hard(net, x, y, xv, yv, dc_params(6000, 10, epochs=epochs, eval_every=epochs), seed=seed)
    return net.eval(), r


def score(net, x, y):
    from coda.evaluate import accuracy, norm_stats, to_device
    return accuracy(net, to_device(x), torch.as_tensor(y), norm_stats(1))


def reconstructions(pipe, x, batch=500):
    "The mini VAE's reconstructions (posterior mean -> decode) of 28x28 grey uint8 images, back to 28x28 grey."
    from coda.minisdxl import mini_images, unit
    from coda.data import ArrayDataset
    s = pipe.vae.config.sample_size
    ds = ArrayDataset('recon', 'test', x[..., 0], np.zeros(len(x), np.int64), ['c'], ['c'])
    u, _ = mini_images(ds, s)
    out = []
    with torch.no_grad():
        for i in range(0, len(u), batch):
            z = pipe.vae.encode(unit(u[i:i+batch])).latent_dist.mean
            out.append(pipe.vae.decode(z).sample.clamp(-1, 1))
    return to_grey28(torch.cat(out))


def to_grey28(t):
    "Float RGB in [-1, 1] (N, 3, s, s) -> uint8 grey (N, 28, 28, 1), as the evaluation reads a saved G image."
    from coda.core import lanczos_resize
    from coda.evaluate import match_channels
    a = ((t + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    a = np.stack([np.asarray(lanczos_resize(Image.fromarray(im), 28)) for im in a])
    return match_channels(a, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--per_class', type=int, default=100); ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--steps', type=int, default=25); ap.add_argument('--cfg', type=float, default=5.0)
    ap.add_argument('--out', default='results/mini_sdxl'); ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from coda.data import load_fashion_mnist
    from coda.align import load_pipeline
    from coda.minisdxl import sample_classes, grid_image
    tr, te = load_fashion_mnist('train'), load_fashion_mnist('test')
    x, y = tr.to_arrays(); xv, yv = te.to_arrays()
    t0 = time.time(); net, r = classifier(x, y, xv, yv, a.epochs); t_cls = time.time() - t0
    pipe = load_pipeline('mini'); pipe.set_progress_bar_config(disable=True)
    t0 = time.time(); xr = reconstructions(pipe, xv); t_rec = time.time() - t0
    t0 = time.time(); g = sample_classes(pipe, te.prompts, a.per_class, seed=0, steps=a.steps, cfg=a.cfg); t_gen = time.time() - t0
    xg = to_grey28(torch.from_numpy(g.reshape(-1, *g.shape[2:])).permute(0, 3, 1, 2).float() / 127.5 - 1)
    yg = np.repeat(np.arange(len(te.prompts)), a.per_class)
    acc_real, acc_rec, cas = score(net, xv, yv), score(net, xr, yv), score(net, xg, yg)
    per = [score(net, xg[yg == c], yg[yg == c]) for c in range(len(te.prompts))]
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    grid_image(g[:, :10]).save(out/'samples.png')
    rows = [('classifier on the test set (originals)', f'{100*acc_real:.1f} %', f'{t_cls:.0f} s training ({a.epochs} epochs)'),
            ('on the VAE reconstructions of the test set', f'{100*acc_rec:.1f} %', f'ratio {acc_rec/acc_real:.3f} (goal >= 0.95); {t_rec:.0f} s'),
            (f'on generated images (gamma = 0, {a.per_class}/class, {a.steps} steps, CFG {a.cfg})', f'{100*cas:.1f} %', f'CAS (goal >= 80 %); {t_gen:.0f} s')]
    print('| measure | accuracy | note |\n|---|---|---|')
    for r_ in rows: print('| ' + ' | '.join(r_) + ' |')
    print('per class CAS: ' + ', '.join(f'{p}: {100*v:.0f}' for p, v in zip(te.prompts, per)))
    res = dict(real=acc_real, recon=acc_rec, recon_ratio=acc_rec/acc_real, cas=cas, cas_per_class=dict(zip(te.prompts, per)),
               per_class=a.per_class, steps=a.steps, cfg=a.cfg, epochs=a.epochs, record=json.loads((Path(pipe.config._name_or_path)/'record.json').read_text())['key'])
    (out/'quality.json').write_text(json.dumps(res, indent=1))
    print(f'mini_sdxl recon_ratio {acc_rec/acc_real:.3f} cas {100*cas:.1f} real {100*acc_real:.1f}')


if __name__ == '__main__': main()
