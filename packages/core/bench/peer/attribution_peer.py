"""PyTorch peer for bench/attribution.ts: circuit-tracer's attribution algorithm on the same model and PLT
(GPT-2- or Llama-style; weights read from a safetensors file the bench writes), written to cost what the
algorithm costs.

Phase 0: clean forward, JumpReLU encode, active features in (layer, pos, feature) order, error vectors,
salient logit targets. Phase 1: ONE forward of `batch` prompt copies with attention patterns and norm scales
detached and MLP outputs replaced by detached leaves, then one `autograd.grad` (retain_graph) per batch of
targets. Targets go in (layer, pos) order, so a batch whose deepest target reads layer m asks autograd only
for layers < m (it never walks the layers above). Cotangent buffers are allocated once and only the entries
set by the previous batch are cleared. Decoder contractions are grouped by position: each layer's decoder
rows a·W_dec are packed per position into [T, maxN, d], and one batched matmul per layer contracts the
gradient at each position (only up to the batch's last target position; later positions get no gradient)
with that position's rows. Rows land in a dense [rows, nActive + (L+1)·T] matrix, as circuit-tracer keeps them.

Prints one JSON line: phaseMs (phase 0 and every row), loadMs (imports and weights), nActive, nLogits and
sum |rows| as a checksum.
"""
import time

t_start = time.perf_counter()
import json  # noqa: E402
import math  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
L, d, H, V = cfg["nLayers"], cfg["dModel"], cfg["nHeads"], cfg["dVocab"]
Hkv = cfg.get("nKvHeads", H)
dh = cfg["dHead"]
eps = cfg["normEps"]
llama = cfg["architecture"] == "llama"


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        buf = bytearray(f.read())
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = torch.frombuffer(buf, dtype=torch.float32, offset=s, count=(e - s) // 4).view(v["shape"])
    return out


W = load_safetensors(cfg["weights"])
tokens = torch.tensor(cfg["tokens"], dtype=torch.long)
T = tokens.shape[0]
t_loaded = time.perf_counter()


def norm(x, w, b, frozen):
    if llama:
        s = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        return x / (s.detach() if frozen else s) * w
    xc = x - x.mean(-1, keepdim=True)
    s = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    return xc / (s.detach() if frozen else s) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
if llama:
    inv = 1.0 / (cfg["rope"]["theta"] ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()


def rope(x):
    x1, x2 = x[..., : dh // 2], x[..., dh // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def get(name):
    return W.get(name)


def run(tok, frozen=None):
    """tok [B, T]; frozen: the clean run's MLP outputs [L, T, d], or None for the clean run itself. Returns the
    embedding leaf, transcoder inputs, MLP-output leaves, final-norm output, logits."""
    embed = W["embed"][tok]
    if frozen is not None:
        embed = embed.detach().requires_grad_(True)
    x = embed + W["posEmbed"][:T] if not llama else embed
    ins, outs = [], []
    b = tok.shape[0]
    for l in range(L):
        p = f"layers.{l}."
        h = norm(x, W[p + "ln1.w"], get(p + "ln1.b"), frozen is not None)
        q, k, v = h @ W[p + "attn.wQ"], h @ W[p + "attn.wK"], h @ W[p + "attn.wV"]
        if not llama:
            q, k, v = q + W[p + "attn.bQ"], k + W[p + "attn.bK"], v + W[p + "attn.bV"]
        q = q.view(b, T, H, dh).transpose(1, 2)
        k = k.view(b, T, Hkv, dh).transpose(1, 2)
        v = v.view(b, T, Hkv, dh).transpose(1, 2)
        if llama:
            q, k = rope(q), rope(k)
            k, v = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
        pat = ((q @ k.transpose(-1, -2)) * cfg["attnScale"]).masked_fill(~mask, float("-inf")).softmax(-1)
        if frozen is not None:
            pat = pat.detach()
        z = (pat @ v).transpose(1, 2).reshape(b, T, H * dh)
        x = x + z @ W[p + "attn.wO"]
        if not llama:
            x = x + W[p + "attn.bO"]
        mlp_in = norm(x, W[p + "ln2.w"], get(p + "ln2.b"), frozen is not None)
        ins.append(mlp_in)
        if frozen is not None:
            # The MLP is frozen: its clean output is a leaf, so phase 1 never runs the MLP.
            y = frozen[l].expand(b, T, d).detach().requires_grad_(True)
        elif llama:
            y = (torch.nn.functional.silu(mlp_in @ W[p + "mlp.wGate"]) * (mlp_in @ W[p + "mlp.wIn"])) @ W[p + "mlp.wOut"]
        else:
            y = gelu_new(mlp_in @ W[p + "mlp.wIn"] + W[p + "mlp.bIn"]) @ W[p + "mlp.wOut"] + W[p + "mlp.bOut"]
        outs.append(y)
        x = x + y
    r = norm(x, W["lnFinal.w"], get("lnFinal.b"), frozen is not None)
    return embed, ins, outs, r, r @ W["unembed"]


def attribute(batch):
    # Phase 0
    with torch.no_grad():
        embed0, ins0, outs0, _, logits0 = run(tokens[None])
        x = torch.cat(ins0, 0)  # [L, T, d]
        w_enc = torch.stack([W[f"tc.{l}.wEnc"] for l in range(L)])  # [L, dTc, d]
        w_dec = torch.stack([W[f"tc.{l}.wDec"] for l in range(L)])  # [L, dTc, d]
        pre = x @ w_enc.transpose(1, 2) + torch.stack([W[f"tc.{l}.bEnc"] for l in range(L)])[:, None]
        theta = torch.stack([W[f"tc.{l}.threshold"] for l in range(L)])[:, None]
        acts = pre * (pre > theta)
        acts[:, 0] = 0
        idx = acts.nonzero()  # [n, 3], lexicographic: (layer, pos, feature)
        al, ap, af = idx[:, 0], idx[:, 1], idx[:, 2]
        vals = acts[al, ap, af]
        recon = torch.zeros(L, T, d).index_put_((al, ap), vals[:, None] * w_dec[al, af], accumulate=True)
        recon += torch.stack([W[f"tc.{l}.bDec"] for l in range(L)])[:, None]
        errors = torch.cat(outs0, 0) - recon
        errors[:, 0] = 0
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
        # Decoder rows packed by position: dec_pad[l] [T, maxN_l, d], and where each slot's column lives.
        dec_pad, slot_cols = [], []  # dec_pad[l]: [T, d, maxN_l + 1]
        for l in range(L):
            sel = (al == l).nonzero().squeeze(1)
            pos = ap[sel]
            counts = torch.bincount(pos, minlength=T)
            width = int(counts.max()) if sel.numel() else 0
            first = torch.cumsum(counts, 0) - counts
            rank = torch.arange(sel.numel()) - first[pos]
            # The error vector rides along as each position's last row: one matmul contracts both.
            pad = torch.zeros(T, width + 1, d)
            pad[pos, rank] = dec_vecs[sel]
            pad[:, width] = errors[l]
            dec_pad.append(pad.transpose(1, 2).contiguous())  # [T, d, maxN + 1]
            slot_cols.append((pos * (width + 1) + rank, sel, width + 1))

    # Phase 1
    embed, ins, outs, r, _ = run(tokens[None].expand(batch, T), torch.cat(outs0, 0))
    edges = torch.empty(K + n_active, row_size)
    cts = [torch.zeros_like(t) for t in ins] + [torch.zeros_like(r)]
    set_last = []
    # Logit rows and feature rows go in separate batches, as in circuit-tracer: a batch's backward starts either
    # at the final norm (logits) or at the feature inputs it needs, never both.
    logit_jobs = [("logit", i) for i in range(K)]
    feature_jobs = [("feature", i) for i in range(n_active)]
    batches = [(s, logit_jobs[s : s + batch]) for s in range(0, K, batch)]
    batches += [(K + s, feature_jobs[s : s + batch]) for s in range(0, n_active, batch)]
    for s, chunk in batches:
        n = len(chunk)
        for level, b, p in set_last:
            cts[level][b, p] = 0
        set_last = []
        for b, (kind, i) in enumerate(chunk):
            if kind == "logit":
                cts[L][b, T - 1] = logit_vecs[i]
                set_last.append((L, b, T - 1))
            else:
                level, p = int(al[i]), int(ap[i])
                cts[level][b, p] = enc_vecs[i]
                set_last.append((level, b, p))
        if chunk[0][0] == "logit":
            top, P = L, T
            outputs, grad_outputs = [r], [cts[L]]
        else:
            levels = sorted({lv for lv, _, _ in set_last})
            top, P = levels[-1], max(p for _, _, p in set_last) + 1
            outputs, grad_outputs = [ins[lv] for lv in levels], [cts[lv] for lv in levels]
        grads = torch.autograd.grad(outputs, [*outs[:top], embed], grad_outputs=grad_outputs, retain_graph=True)
        with torch.no_grad():
            rows = edges[s : s + n]
            rows.zero_()
            for l in range(top):
                flat, sel, width = slot_cols[l]
                c = torch.bmm(grads[l][:n, :P].transpose(0, 1), dec_pad[l][:P])  # [P, n, maxN + 1]
                keep = flat < P * width
                rows[:, sel[keep]] = c.transpose(0, 1).reshape(n, P * width)[:, flat[keep]]
                rows[:, n_active + l * T : n_active + l * T + P] = c[:, :, width - 1].T
            tok = torch.bmm(grads[top][:n, :P].transpose(0, 1), tok_vecs[:P, :, None])  # [P, n, 1]
            rows[:, n_active + L * T : n_active + L * T + P] = tok[:, :, 0].T
    return n_active, K, edges


times = []
for _ in range(cfg["reps"]):
    t0 = time.perf_counter()
    n_active, K, edges = attribute(cfg["batch"])
    times.append((time.perf_counter() - t0) * 1000)
    # The checksum is the bench's cross-check, not part of the algorithm: outside the timed phase.
    checksum = sum(float(b.abs().sum(dtype=torch.float64)) for b in edges.split(256))
    del edges
print(
    json.dumps(
        {
            "phaseMs": min(times),
            "loadMs": (t_loaded - t_start) * 1000,
            "nActive": n_active,
            "nLogits": K,
            "checksum": checksum,
        }
    )
)
