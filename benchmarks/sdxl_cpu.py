"""The real SDXL shapes once on a CPU: the full-size base UNet, both text encoders and the VAE, built from their
published configs (written below; no hub) with random weights, run through `coda_generate`'s code path
(`coda.align.generate`: a discovery folder with one 128x128 latent, CoDA's guidance, DPM++ 2M Karras, CFG) for
one 1024x1024 image.

What the tiny models cannot show: the real tensor shapes (2x4x128x128 latents under CFG, 77x2048 text states,
2816-wide added time embedding), dtypes (the VAE's `force_upcast` decode under float16), and the memory and
time of each step. The images are noise (random weights); the tokenizer is coda's byte-level test tokenizer
(ids < 514, so the encoders' eos id is set to its 1). The last line is exactly

    sdxl_cpu dtype <dtype> size <px> steps <n> s_per_step <x.x> decode_s <x.x> peak_rss_gib <x.x> params_b <x.xx>

    python benchmarks/sdxl_cpu.py                      # bfloat16 (about 7 GB of weights)
    python benchmarks/sdxl_cpu.py --dtype float32      # about 14 GB of weights
"""
import argparse, os, resource, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch

# stabilityai/stable-diffusion-xl-base-1.0: unet/config.json, text_encoder(_2)/config.json, vae/config.json
UNET = dict(act_fn='silu', addition_embed_type='text_time', addition_embed_type_num_heads=64, addition_time_embed_dim=256,
            attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280], center_input_sample=False,
            cross_attention_dim=2048, down_block_types=['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
            downsample_padding=1, flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2,
            mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32, out_channels=4,
            projection_class_embeddings_input_dim=2816, sample_size=128, transformer_layers_per_block=[1, 2, 10],
            up_block_types=['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'], use_linear_projection=True)
TEXT_ENCODER = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768,
                    hidden_act='quick_gelu', max_position_embeddings=77, vocab_size=49408, layer_norm_eps=1e-5)
TEXT_ENCODER_2 = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20, projection_dim=1280,
                      hidden_act='gelu', max_position_embeddings=77, vocab_size=49408, layer_norm_eps=1e-5)
VAE = dict(act_fn='silu', block_out_channels=[128, 256, 512, 512], down_block_types=['DownEncoderBlock2D'] * 4, force_upcast=True,
           in_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, out_channels=3, sample_size=1024,
           scaling_factor=0.13025, up_block_types=['UpDecoderBlock2D'] * 4)
TOKENS = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1)   # coda.tiny's tokenizer (the real one: 49406/49407)


def build(dtype):
    "SDXL base from the configs above, random weights created directly in `dtype`, DPM++ 2M Karras."
    from diffusers import UNet2DConditionModel, AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    from coda.tiny import tiny_tokenizer
    from coda.sampling import SDXL_SCHEDULER, dpmpp_karras
    torch.manual_seed(0)
    old = torch.get_default_dtype(); torch.set_default_dtype(dtype)   # no float32 copy of 2.6 B parameters on the way
    try:
        unet, vae = UNet2DConditionModel(**UNET), AutoencoderKL(**VAE)
        te = CLIPTextModel(CLIPTextConfig(**TEXT_ENCODER, **TOKENS))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_ENCODER_2, **TOKENS))
    finally: torch.set_default_dtype(old)
    tok = tiny_tokenizer()
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok, unet=unet,
                                     scheduler=dpmpp_karras(EulerDiscreteScheduler.from_config(SDXL_SCHEDULER).config))
    for m in (unet, vae, te, te2): m.eval()
    return pipe


def discovery(d, side):
    "A discovery folder with one representative latent of side `side` (the 1024² image's 128²)."
    (d/'latents').mkdir(parents=True)
    np.save(d/'latents'/'0000.npy', np.random.default_rng(0).standard_normal((1, 4, side, side)).astype(np.float32))
    pd.DataFrame([dict(class_index=0, class_name='tench', prompt='a photo of a tench', j=0)]).to_csv(d/'manifest.csv', index=False)
    return d


def timed_unet(unet, log):
    "Record (input shape, seconds) of every UNet call."
    t = {}
    unet.register_forward_pre_hook(lambda m, a: t.__setitem__('t', time.perf_counter()))
    unet.register_forward_hook(lambda m, a, o: log.append((tuple(a[0].shape), time.perf_counter() - t['t'])))


def timed_decode(vae, log):
    "Record (latent shape, dtype the VAE decodes in, seconds) of every decode."
    dec = vae.decode
    def f(z, *a, **k):
        t0 = time.perf_counter(); out = dec(z, *a, **k)
        log.append((tuple(z.shape), str(next(vae.parameters()).dtype), time.perf_counter() - t0)); return out
    vae.decode = f


def gib(kb): return kb / 2**20


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dtype', default='bfloat16', choices=['bfloat16', 'float32', 'float16'])
    p.add_argument('--steps', type=int, default=2)
    p.add_argument('--size', type=int, default=1024, help='image side (latent side = size / 8)')
    p.add_argument('--threads', type=int, default=None)
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    from coda.align import generate
    dtype = getattr(torch, a.dtype)
    t0 = time.perf_counter(); pipe = build(dtype); t_build = time.perf_counter() - t0
    rss_built = gib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    params = {n: sum(x.numel() for x in getattr(pipe, n).parameters()) for n in ('unet', 'text_encoder', 'text_encoder_2', 'vae')}
    steps, decodes = [], []
    timed_unet(pipe.unet, steps); timed_decode(pipe.vae, decodes)
    tmp = Path(tempfile.mkdtemp(prefix='sdxl_cpu_'))
    disc = discovery(tmp/'disc', a.size // 8)
    t0 = time.perf_counter()
    r = generate(disc, tmp/'G', pipe, gamma=0.05, pis=0, steps=a.steps, size=a.size, batch_size=1, progress=False)
    t_gen = time.perf_counter() - t0
    from PIL import Image
    im = Image.open(tmp/'G'/'tench'/'000.png')
    assert r['generated'] == 1 and im.size == (a.size, a.size), (r, im.size)
    assert [s for s, _ in steps] == [(2, 4, a.size // 8, a.size // 8)] * a.steps, steps   # CFG-doubled real-size latents
    peak = gib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    sps = float(np.mean([s for _, s in steps])); dec = sum(s for *_, s in decodes)
    print(f'SDXL base, random weights, {a.dtype}, {a.size}x{a.size}, {a.steps} steps, CFG 5, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, cpu_count {os.cpu_count()}')
    print(f"{'component':16}{'parameters':>14}")
    for n, k in params.items(): print(f'{n:16}{k:>14,}')
    print(f"{'stage':44}{'seconds':>10}")
    print(f"{'build (random init)':44}{t_build:>10.1f}")
    for i, (s, t) in enumerate(steps): print(f"{f'UNet step {i + 1} {s}':44}{t:>10.1f}")
    for s, d, t in decodes: print(f"{f'VAE decode {s} in {d}':44}{t:>10.1f}")
    print(f"{'generate() total':44}{t_gen:>10.1f}")
    print(f'peak RSS {peak:.1f} GiB (after building: {rss_built:.1f} GiB); image {im.size[0]}x{im.size[1]} {im.mode}')
    print(f'sdxl_cpu dtype {a.dtype} size {a.size} steps {a.steps} s_per_step {sps:.1f} decode_s {dec:.1f} '
          f'peak_rss_gib {peak:.1f} params_b {sum(params.values()) / 1e9:.2f}')


if __name__ == '__main__':
    main()
