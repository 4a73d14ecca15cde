"""PyTorch peer for bench/attribution.ts: circuit-tracer's attribution algorithm on the same GPT-2-style model
and PLT (weights read from a safetensors file the bench writes).

Phase 0: clean forward, JumpReLU encode, active features in (layer, pos, feature) order, error vectors,
salient logit targets. Phase 1: ONE forward of `batch` prompt copies with attention patterns and LayerNorm
scales detached and MLP outputs replaced by detached leaves, then one `autograd.grad` (retain_graph) per batch of
targets, injecting W_enc rows / demeaned unembedding columns at the transcoder inputs / final-norm output, and
the circuit-tracer contractions (gradients at decoder positions · a·W_dec, · errors, · token embeddings).
Every active feature gets a row. Prints one JSON line: ms, n_active, n_logits and sum |rows| as a checksum.
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
L, d, H, V = cfg["nLayers"], cfg["dModel"], cfg["nHeads"], cfg["dVocab"]
eps = cfg["normEps"]
dh = d // H


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(buf[s:e], dtype=np.float32).reshape(v["shape"]).copy())
    return out


W = load_safetensors(cfg["weights"])
tokens = torch.tensor(cfg["tokens"], dtype=torch.long)
T = tokens.shape[0]


def layer_norm(x, w, b, frozen):
    xc = x - x.mean(-1, keepdim=True)
    s = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    if frozen:
        s = s.detach()
    return xc / s * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


mask = torch.tril(torch.ones(T, T, dtype=torch.bool))


def run(tok, frozen):
    """tok [B, T]. Returns the embedding leaf, transcoder inputs, MLP-output leaves, final-norm output, logits."""
    embed = W["embed"][tok]
    if frozen:
        embed = embed.detach().requires_grad_(True)
    x = embed + W["posEmbed"][:T]
    ins, outs = [], []
    b = tok.shape[0]
    for l in range(L):
        p = f"layers.{l}."
        h = layer_norm(x, W[p + "ln1.w"], W[p + "ln1.b"], frozen)
        q = (h @ W[p + "attn.wQ"] + W[p + "attn.bQ"]).view(b, T, H, dh).transpose(1, 2)
        k = (h @ W[p + "attn.wK"] + W[p + "attn.bK"]).view(b, T, H, dh).transpose(1, 2)
        v = (h @ W[p + "attn.wV"] + W[p + "attn.bV"]).view(b, T, H, dh).transpose(1, 2)
        pat = ((q @ k.transpose(-1, -2)) * cfg["attnScale"]).masked_fill(~mask, float("-inf")).softmax(-1)
        if frozen:
            pat = pat.detach()
        z = (pat @ v).transpose(1, 2).reshape(b, T, d)
        x = x + z @ W[p + "attn.wO"] + W[p + "attn.bO"]
        mlp_in = layer_norm(x, W[p + "ln2.w"], W[p + "ln2.b"], frozen)
        ins.append(mlp_in)
        y = gelu_new(mlp_in @ W[p + "mlp.wIn"] + W[p + "mlp.bIn"]) @ W[p + "mlp.wOut"] + W[p + "mlp.bOut"]
        if frozen:
            y = y.detach().requires_grad_(True)
        outs.append(y)
        x = x + y
    r = layer_norm(x, W["lnFinal.w"], W["lnFinal.b"], frozen)
    return embed, ins, outs, r, r @ W["unembed"]


def attribute(batch):
    # Phase 0
    with torch.no_grad():
        embed0, ins0, outs0, _, logits0 = run(tokens[None], False)
        x = torch.cat(ins0, 0)  # [L, T, d]
        w_enc = torch.stack([W[f"tc.{l}.wEnc"] for l in range(L)])  # [L, dTc, d]
        w_dec = torch.stack([W[f"tc.{l}.wDec"] for l in range(L)])  # [L, dTc, d]
        pre = x @ w_enc.transpose(1, 2) + torch.stack([W[f"tc.{l}.bEnc"] for l in range(L)])[:, None]
        theta = torch.stack([W[f"tc.{l}.threshold"] for l in range(L)])[:, None]
        acts = pre * (pre > theta)
        acts[:, 0] = 0
        recon = acts @ w_dec + torch.stack([W[f"tc.{l}.bDec"] for l in range(L)])[:, None]
        errors = torch.cat(outs0, 0) - recon
        errors[:, 0] = 0
        idx = acts.nonzero()  # [n, 3], lexicographic
        al, ap, af = idx[:, 0], idx[:, 1], idx[:, 2]
        vals = acts[al, ap, af]
        enc_vecs = w_enc[al, af]
        dec_vecs = vals[:, None] * w_dec[al, af]
        tok_vecs = embed0[0]
        probs = logits0[0, -1].softmax(-1)
        top_p, top_i = probs.topk(10)
        cutoff = int(torch.searchsorted(top_p.cumsum(0), torch.tensor(0.95))) + 1
        targets = top_i[:cutoff]
        u = W["unembed"]
        logit_vecs = (u[:, targets] - u.mean(1, keepdim=True)).T  # [K, d]
    n_active, K = idx.shape[0], targets.shape[0]
    row_size = n_active + (L + 1) * T

    # Phase 1
    embed, ins, outs, r, _ = run(tokens[None].expand(batch, T), True)
    by_layer = [(al == l).nonzero().squeeze(1) for l in range(L)]
    checksum = 0.0
    jobs = [("logit", i) for i in range(K)] + [("feature", i) for i in range(n_active)]
    for s in range(0, len(jobs), batch):
        chunk = jobs[s : s + batch]
        n = len(chunk)
        cts = [torch.zeros_like(t) for t in ins] + [torch.zeros_like(r)]
        for b, (kind, i) in enumerate(chunk):
            if kind == "logit":
                cts[L][b, T - 1] = logit_vecs[i]
            else:
                cts[int(al[i])][b, int(ap[i])] = enc_vecs[i]
        grads = torch.autograd.grad([*ins, r], [*outs, embed], grad_outputs=cts, retain_graph=True)
        with torch.no_grad():
            rows = torch.zeros(n, row_size)
            for l in range(L):
                sel = by_layer[l]
                if sel.numel() > 0:
                    g = grads[l][:n, ap[sel]]  # [n, n_l, d]
                    rows[:, sel] = torch.einsum("bnd,nd->bn", g, dec_vecs[sel])
                rows[:, n_active + l * T : n_active + (l + 1) * T] = torch.einsum("btd,td->bt", grads[l][:n], errors[l])
            rows[:, n_active + L * T :] = torch.einsum("btd,td->bt", grads[L][:n], tok_vecs)
            checksum += float(rows.abs().sum(dtype=torch.float64))
    return n_active, K, checksum


times = []
for _ in range(cfg["reps"]):
    t0 = time.perf_counter()
    n_active, K, checksum = attribute(cfg["batch"])
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"ms": min(times), "nActive": n_active, "nLogits": K, "checksum": checksum}))
