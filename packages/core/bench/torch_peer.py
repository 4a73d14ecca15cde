"""PyTorch peer for bench/run.ts: the same tiny GPT (pre-LayerNorm, GELU, learned positions, untied head),
forward (no_grad) and a training step (forward + backward + AdamW). Prints one JSON line of median ms."""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
L, d, H, T, B, V, M = cfg["nLayers"], cfg["dModel"], cfg["nHeads"], cfg["T"], cfg["B"], cfg["dVocab"], cfg["dMlp"]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, M)
        self.down = nn.Linear(M, d)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x, linear=None):
        h = self.ln1(x) if linear is None else frozen_ln(self.ln1, x)
        q, k, v = self.qkv(h).split(d, dim=-1)
        b, t = x.shape[0], x.shape[1]
        q, k, v = (u.view(b, t, H, d // H).transpose(1, 2) for u in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
        p = s.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(-1)
        if linear is not None:
            p = p.detach()
        z = (p @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.o(z)
        h2 = self.ln2(x) if linear is None else frozen_ln(self.ln2, x)
        m = self.down(nn.functional.gelu(self.up(h2), approximate="tanh"))
        if linear is not None:
            m = m.detach().requires_grad_()
            linear.append(m)
        return x + m


def frozen_ln(ln, x):
    """LayerNorm with its scale detached, as circuit-tracer linearises it."""
    xc = x - x.mean(-1, keepdim=True)
    scale = (xc.pow(2).mean(-1, keepdim=True) + ln.eps).sqrt().detach()
    return xc / scale * ln.weight + ln.bias


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(T, d)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(d)
        self.head = nn.Linear(d, V, bias=False)

    def forward(self, tok):
        x = self.emb(tok) + self.pos.weight[None]
        for b in self.blocks:
            x = b(x)
        return self.head(self.lnf(x))


model = GPT()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
tok = torch.randint(0, V, (B, T))
tgt = torch.randint(0, V, (B, T))


def timed(fn, reps):
    fn()
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def fwd():
    with torch.no_grad():
        model(tok)


def step():
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(tok).view(-1, V), tgt.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


vjp_T, vjp_B = cfg["vjpT"], cfg["vjpB"]
vtok = torch.randint(0, V, (vjp_B, vjp_T))
for p_ in model.parameters():
    p_.requires_grad_(False)


def vjps():
    """A linearised forward on vjpB prompt copies, then 4 batched VJPs from ln_final's output to the
    embeddings and every MLP output (circuit-tracer's attribution backward)."""
    mlps = []
    x0 = (model.emb(vtok) + model.pos.weight[None, :vjp_T]).detach().requires_grad_()
    x = x0
    for blk in model.blocks:
        x = blk(x, mlps)
    out = frozen_ln(model.lnf, x)
    for i in range(4):
        seed = torch.zeros_like(out)
        seed[:, -1] = torch.randn(vjp_B, d)
        torch.autograd.grad(out, [x0, *mlps], grad_outputs=seed, retain_graph=i < 3)


res = {"forwardMs": timed(fwd, cfg["reps"]), "vjp128Ms": timed(vjps, cfg["reps"])}
for p_ in model.parameters():
    p_.requires_grad_(True)
res["trainStepMs"] = timed(step, cfg["reps"])
print(json.dumps(res))
