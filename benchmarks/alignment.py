"""Cost of CoDA's alignment wrapper: per-step time of the stock vs the aligned SDXL pipeline, and images/s by batch size.

    python benchmarks/alignment.py                      # CPU: the tiny random-weight SDXL (coda.tiny)
    python benchmarks/alignment.py --model sdxl-random  # GPU: SDXL's real UNet (random weights, fp16), 1024x1024

On CPU the benchmark uses one thread and measures process CPU time (robust to other jobs sharing the cores);
on GPU it measures wall time with synchronisation. Both pipelines run the same DPM++ 2M Karras loop with CFG 5 and output latents (no VAE decode); the aligned one
guides every step (gamma > 0, PIS 0), i.e. the worst case. Timings are the minimum over interleaved repeats
(contention from other jobs only adds time). A micro-benchmark also times the correction alone against one UNet call.
Last line: `overhead <x.x>% batch-speedup <x.xx>` (overhead of the aligned per-step time over the stock one at
batch 1; speedup = aligned images/s at the largest batch over batch 1).
"""
import argparse, os, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from coda.align import aligned
from coda.tiny import tiny_sdxl, tiny_tokenizer, tiny_clip_config, tiny_vae, _ready
from coda.sampling import dpmpp_karras, SDXL_SCHEDULER

SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
                 down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'),
                 up_block_types=('CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'),
                 transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
                 use_linear_projection=True, addition_embed_type='text_time', addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, norm_num_groups=32)

def sdxl_random(device, dtype):
    "SDXL's UNet (2.6B parameters, random weights) with 1-layer text encoders of SDXL's widths and a tiny 8x VAE."
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    from diffusers import UNet2DConditionModel, AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline
    tok = tiny_tokenizer()
    te = CLIPTextModel(_clip(768, 768))
    te2 = CLIPTextModelWithProjection(_clip(1280, 1280))
    vae = AutoencoderKL(block_out_channels=[8]*4, down_block_types=['DownEncoderBlock2D']*4, up_block_types=['UpDecoderBlock2D']*4,
                        latent_channels=4, norm_num_groups=1, layers_per_block=1)
    with torch.device(device): unet = UNet2DConditionModel(**SDXL_UNET)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok, unet=unet,
                                     scheduler=dpmpp_karras(EulerDiscreteScheduler.from_config(SDXL_SCHEDULER).config))
    return _ready(pipe.to(device, dtype))

def _clip(hidden, proj):
    c = tiny_clip_config(hidden=hidden, proj=proj); c.num_hidden_layers = 1; c.num_attention_heads = 8
    return c

def _sync(device):
    if 'cuda' in str(device): torch.cuda.synchronize()

def run_once(pipe, batch, steps, refs=None, gamma=0.1):
    "Seconds for one pipeline call (latents out), stock if `refs` is None else aligned on every step."
    lat = pipe.unet.config.sample_size
    kw = dict(num_inference_steps=steps, height=lat*pipe.vae_scale_factor, width=lat*pipe.vae_scale_factor,
              guidance_scale=5.0, output_type='latent', generator=[torch.Generator().manual_seed(i) for i in range(batch)])
    clock = time.perf_counter if 'cuda' in str(pipe.device) else time.process_time
    _sync(pipe.device); t = clock()
    if refs is None: pipe(['a photo of a tench']*batch, **kw)
    else:
        with aligned(pipe, refs[:batch], gamma=gamma, pis=0): pipe(['a photo of a tench']*batch, **kw)
    _sync(pipe.device)
    return clock() - t

def micro(pipe, refs, repeats, n=20):
    "Seconds for align_eps on the conditional half vs one CFG-doubled UNet call, at batch 1 and the model's shapes."
    from coda.align import align_eps
    clock = time.perf_counter if 'cuda' in str(pipe.device) else time.process_time
    lat, dev, dt = pipe.unet.config.sample_size, pipe.device, pipe.unet.dtype
    z = torch.randn(2, 4, lat, lat, device=dev, dtype=dt); r = refs.to(dev, torch.float32)
    emb = torch.randn(2, 77, pipe.unet.config.cross_attention_dim, device=dev, dtype=dt)
    n_ids = (pipe.unet.add_embedding.linear_1.in_features - pipe.text_encoder_2.config.projection_dim) // pipe.unet.config.addition_time_embed_dim
    cond = dict(text_embeds=torch.randn(2, pipe.text_encoder_2.config.projection_dim, device=dev, dtype=dt),
                time_ids=torch.zeros(2, n_ids, device=dev, dtype=dt))
    t = torch.tensor(500, device=dev)
    def corr():
        e = z[1:].float(); out = z.clone(); out[1:] = align_eps(z[1:].float(), e, 0.3, r, 0.1).to(dt); return out
    def unet(): return pipe.unet(z, t, encoder_hidden_states=emb, added_cond_kwargs=cond, return_dict=False)[0]
    res = []
    for f, k in ((corr, n), (unet, 3)):
        f(); best = float('inf')
        for _ in range(repeats):
            _sync(dev); t0 = clock()
            for _ in range(k): f()
            _sync(dev); best = min(best, (clock() - t0) / k)
        res.append(best)
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default=None, help="'tiny' (CPU default) or 'sdxl-random' (GPU default)")
    ap.add_argument('--steps', type=int, default=None, help='sampler steps per call (default 10)')
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--batches', default='1,4,8')
    a = ap.parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = a.model or ('sdxl-random' if device == 'cuda' else 'tiny')
    steps = a.steps or 10
    if device == 'cpu': torch.set_num_threads(1)
    dtype = torch.float16 if device == 'cuda' else torch.float32
    pipe = sdxl_random(device, dtype) if model == 'sdxl-random' else tiny_sdxl()
    batches = [int(b) for b in a.batches.split(',')]
    lat = pipe.unet.config.sample_size
    refs = torch.randn(max(batches), 4, lat, lat, generator=torch.Generator().manual_seed(0))
    torch.set_grad_enabled(False)
    print(f'model {model} device {device} dtype {str(dtype)[6:]} latent {lat}x{lat} steps {steps} repeats {a.repeats} '
          f'threads {torch.get_num_threads()}')
    for b in batches: run_once(pipe, b, 2), run_once(pipe, b, 2, refs)          # warm-up
    stock, guided = [], []
    for _ in range(a.repeats):                                                   # interleaved, batch 1
        stock.append(run_once(pipe, 1, steps)); guided.append(run_once(pipe, 1, steps, refs))
    s, g = min(stock) / steps, min(guided) / steps
    overhead = 100 * (g / s - 1)
    print(f'per-step (batch 1): stock {1e3*s:.2f} ms  aligned {1e3*g:.2f} ms  overhead {overhead:+.1f}%')
    c, u = micro(pipe, refs[:1], a.repeats)
    print(f'correction alone: {1e3*c:.3f} ms per step vs UNet call {1e3*u:.2f} ms ({100*c/u:.2f}%)')
    ips = {}
    for b in batches:
        t = min(run_once(pipe, b, steps, refs) for _ in range(a.repeats))
        ips[b] = b / t
        print(f'aligned batch {b}: {ips[b]:.3f} images/s ({1e3*t/steps:.1f} ms/step)')
    print(f'overhead {overhead:.1f}% batch-speedup {ips[max(batches)] / ips[min(batches)]:.2f}')

if __name__ == '__main__': main()
