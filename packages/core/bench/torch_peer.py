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

    def forward(self, x):
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(d, dim=-1)
        q, k, v = (t.view(B, T, H, d // H).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
        p = s.masked_fill(~self.mask, float("-inf")).softmax(-1)
        z = (p @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.o(z)
        return x + self.down(nn.functional.gelu(self.up(self.ln2(x)), approximate="tanh"))


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


print(json.dumps({"forwardMs": timed(fwd, cfg["reps"]), "trainStepMs": timed(step, cfg["reps"])}))
