"""PyTorch peer for bench/dictionary.ts: the same dictionary training step (BatchTopK encode, PLT or CLT
decode, AuxK on dead features, the step's metrics, backward, global-norm clipping, AdamW) on the same shapes.
Prints one JSON line: median ms per step for each kind."""
import json
import statistics
import sys
import time

import torch

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
L, d, W, R, k, aux_k, reps = cfg["L"], cfg["d"], cfg["width"], cfg["rows"], cfg["k"], cfg["auxK"], cfg["reps"]


def unit_rows(n):
    w = torch.randn(n, d)
    return w / w.norm(dim=1, keepdim=True)


def make_params(kind):
    rows = [unit_rows(W) for _ in range(L)]
    p = {
        "wEnc": torch.stack(rows).clone().requires_grad_(),
        "bEnc": torch.zeros(L, 1, W, requires_grad=True),
        "bDec": torch.zeros(L, 1, d, requires_grad=True),
    }
    if kind == "clt":
        for l in range(L):
            w = torch.zeros(W, L - l, d)
            w[:, 0, :] = rows[l]
            p[f"wDec{l}"] = w.requires_grad_()
    else:
        p["wDec"] = torch.stack(rows).clone().requires_grad_()
    return p


def decode(kind, p, acts):
    if kind != "clt":
        return acts @ p["wDec"]
    out = torch.zeros(R, L * d)
    for l in range(L):
        part = acts[l] @ p[f"wDec{l}"].reshape(W, (L - l) * d)
        out = out + torch.nn.functional.pad(part, (l * d, 0))
    return out.reshape(R, L, d).transpose(0, 1)


def step_fn(kind, p, opt, x, y, dead):
    xt, yt = x.transpose(0, 1), y.transpose(0, 1)
    pre = xt @ p["wEnc"].transpose(1, 2) + p["bEnc"]
    theta = pre.reshape(L, R * W).topk(k * R, dim=1, sorted=False).values.min(dim=1).values.detach().reshape(L, 1, 1)
    keep = (pre >= theta) & (pre > 0)
    acts = torch.where(keep, pre, torch.zeros_like(pre))
    recon = decode(kind, p, acts) + p["bDec"]
    err = recon - yt
    sse = (err * err).sum(dim=(1, 2))
    mse = sse.sum() / (L * R * d)
    is_dead = dead > 0.5
    pre_dead = torch.where(is_dead, pre, torch.full_like(pre, -1e30))
    aux_theta = pre_dead.topk(aux_k, dim=-1, sorted=False).values.min(dim=-1, keepdim=True).values.detach()
    aux_keep = (pre_dead >= aux_theta) & is_dead & (pre > 0)
    aux_recon = decode(kind, p, torch.where(aux_keep, pre, torch.zeros_like(pre)))
    residual = (yt - recon).detach()
    aux_loss = ((aux_recon - residual) ** 2).mean() / torch.clamp((residual * residual).mean(), min=1e-12)
    loss = mse + aux_loss / 32
    with torch.no_grad():
        centred = yt - yt.mean(dim=1, keepdim=True)
        metrics = (sse, (centred * centred).sum(dim=(1, 2)), keep.float().sum(dim=1), theta.reshape(L))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
    opt.step()
    return loss.item(), metrics


out = {}
x = torch.randn(R, L, d)
y = torch.randn(R, L, d)
dead = torch.zeros(L, 1, W)
dead[:, :, : W // 4] = 1
for kind in cfg["kinds"]:
    p = make_params(kind)
    opt = torch.optim.AdamW(list(p.values()), lr=1e-3, weight_decay=0.0)
    for _ in range(2):
        step_fn(kind, p, opt, x, y, dead)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step_fn(kind, p, opt, x, y, dead)
        times.append((time.perf_counter() - t0) * 1000)
    out[kind] = statistics.median(times)
print(json.dumps(out))
