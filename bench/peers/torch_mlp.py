#!/usr/bin/python3
"""torch_mlp.py is the PyTorch peer of optraj's MNIST benchmarks.

It trains the model that bench/bench_test.go trains, the same way: a
784→128→10 MLP (nn.Linear, ReLU, nn.Linear) with softmax cross-entropy,
SGD with momentum and weight decay, batches of 128 drawn in a seeded
shuffled order, on the MNIST IDX files (pixels scaled to [0, 1]). Each
epoch is timed on its own; the result is one JSON line on stdout.

With --hydra it also scores every training point by first-order HyDRA the
way optraj's influence.FirstOrder does, so that the two scoring costs can
be set side by side:

  prepare  at the final weights w_T: the gradient (V_l, v_l) of the mean
           test loss for each linear layer l, p0 = X·V_0ᵀ + v_0 for all N
           points, and each point's own output gradients δᵢ(T) and hidden
           input aᵢ(T);
  replay   the recorded run again from its initial weights, and at every
           step t, for the batch rows i (output gradients δ are those of
           the batch's mean loss, a the layer inputs):

             test[i]   −= c_t·Σ_l δᵢᵀ·(V_l·aᵢ + v_l)
             self[i]   −= c_t·Σ_l (δᵢᵀδᵢ(T))·(aᵢᵀaᵢ(T) + 1)
             tracin[i] += η_t·B²·Σ_l ‖δᵢ‖²·(‖aᵢ‖² + 1)

where c_t is how an injection at step t reaches the final hypergradient
through the SGD recursion with momentum and weight decay. "extra" in the
output is the time the replay spends on these sums, beyond training.

Usage:

  /usr/bin/python3 torch_mlp.py [flags] DATA_DIR

Run it with the system Python, which has Debian's python3-torch
(scripts/install-peers.sh installs it).
"""

import argparse
import gzip
import json
import os
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

# IDX element type 0x08: unsigned bytes, the only type MNIST uses.
IDX_UBYTE = 0x08

SIZES = (784, 128, 10)


def read_idx(path):
    """read_idx returns the uint8 tensor stored in a gzipped IDX file."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, kind, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or kind != IDX_UBYTE:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = bytearray(raw[4 + 4 * ndim:])
    count = 1
    for d in dims:
        count *= d
    if len(body) != count:
        raise ValueError(f"{path}: {len(body)} bytes for shape {dims}")
    return torch.frombuffer(body, dtype=torch.uint8).reshape(dims)


def load_split(data_dir, prefix):
    """load_split returns the inputs (N×784, in [0, 1]) and labels."""
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = x.reshape(x.shape[0], -1).to(torch.float32).div_(255)
    return x.contiguous(), y.to(torch.int64)


def build_model():
    """build_model returns the MLP; nn.Linear's default initialisation."""
    layers = []
    for i in range(len(SIZES) - 1):
        layers.append(nn.Linear(SIZES[i], SIZES[i + 1]))
        if i + 2 < len(SIZES):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def new_optimizer(model, args):
    return torch.optim.SGD(model.parameters(), lr=args.lr,
                           momentum=args.momentum,
                           weight_decay=args.weight_decay)


def batch_orders(n, epochs, seed):
    """batch_orders returns one seeded permutation of [0, n) per epoch."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=g) for _ in range(epochs)]


def train_epoch(model, opt, x, y, order, batch):
    """train_epoch runs one epoch of SGD over x in the given order."""
    for lo in range(0, len(order), batch):
        idx = order[lo:lo + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def sync(dev):
    """sync waits for the GPU's queued work, so that a timer stops after
    it; on the CPU there is nothing to wait for."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def accuracy(model, x, y):
    with torch.no_grad():
        return model(x).argmax(1).eq(y).float().mean().item()


def flop_per_epoch(n):
    """flop_per_epoch counts the multiply-adds (2 flop each) that one
    epoch's matrix products need: forward and weight gradient for every
    layer, input gradient for every layer but the first."""
    fwd = [2 * n * SIZES[i] * SIZES[i + 1] for i in range(len(SIZES) - 1)]
    return 2 * sum(fwd) + sum(fwd[1:])


def coefficients(eta, mu, lam):
    """coefficients returns c_t, the factor by which an injection u into
    the step-t gradient reaches the hypergradient d after the last step.
    One step maps (d, m) to A_t·(d, m) + (−η_t, 1)·u with

      A_t = [[1 − η_t·λ, −η_t·μ], [λ, μ]],

    so c_t is the first row of A_{T−1}···A_{t+1} applied to (−η_t, 1)."""
    c = [0.0] * len(eta)
    r0, r1 = 1.0, 0.0
    for t in range(len(eta) - 1, -1, -1):
        c[t] = -eta[t] * r0 + r1
        r0, r1 = (r0 * (1 - eta[t] * lam) + r1 * lam,
                  -r0 * eta[t] * mu + r1 * mu)
    return c


def forward_kept(model, x):
    """forward_kept runs the MLP keeping each linear layer's input and
    output, the outputs set to retain their gradients."""
    lins = [m for m in model if isinstance(m, nn.Linear)]
    inputs, outputs, h = [], [], x
    for k, lin in enumerate(lins):
        inputs.append(h)
        z = lin(h)
        z.retain_grad()
        outputs.append(z)
        h = torch.relu(z) if k + 1 < len(lins) else z
    return h, inputs, outputs


def prepare(model, x, y, xt, yt):
    """prepare computes what the replay needs from the final weights."""
    lins = [m for m in model if isinstance(m, nn.Linear)]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(xt), yt).backward()
    grads = [(lin.weight.grad.clone(), lin.bias.grad.clone())
             for lin in lins]
    model.zero_grad(set_to_none=True)

    logits, inputs, outputs = forward_kept(model, x)
    F.cross_entropy(logits, y, reduction="sum").backward()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        vw0, vb0 = grads[0]
        return {
            "grads": grads,
            "p0": torch.addmm(vb0, x, vw0.t()),
            "xnorm": (x * x).sum(1),
            "d_final": [z.grad.detach() for z in outputs],
            "a_final": [a.detach() for a in inputs],
        }


def score_step(p, idx, inputs, outputs, coef, eta, scores):
    """score_step adds step t's terms to the scores of the batch idx."""
    b = len(idx)
    test = torch.zeros(b, device=idx.device)
    self_ = torch.zeros(b, device=idx.device)
    tracin = torch.zeros(b, device=idx.device)
    for k, (a, z) in enumerate(zip(inputs, outputs)):
        d = z.grad
        if k == 0:
            aa = p["xnorm"][idx]
            pv = p["p0"][idx]
            af = aa
        else:
            a = a.detach()
            aa = (a * a).sum(1)
            vw, vb = p["grads"][k]
            pv = torch.addmm(vb, a, vw.t())
            af = (a * p["a_final"][k][idx]).sum(1)
        test += (d * pv).sum(1)
        self_ += (d * p["d_final"][k][idx]).sum(1) * (af + 1)
        tracin += (d * d).sum(1) * (aa + 1)
    scores["test"].index_add_(0, idx, test.double(), alpha=-coef)
    scores["self"].index_add_(0, idx, self_.double(), alpha=-coef)
    scores["tracin"].index_add_(0, idx, tracin.double(),
                                alpha=eta * b * b)


def replay(model, opt, x, y, orders, batch, p, coef, eta):
    """replay runs the recorded SGD steps again, scoring as it goes, and
    returns the scores and the seconds spent on scoring."""
    n = x.shape[0]
    scores = {k: torch.zeros(n, dtype=torch.float64, device=x.device)
              for k in ("test", "self", "tracin")}
    extra, t = 0.0, 0
    for order in orders:
        for lo in range(0, n, batch):
            idx = order[lo:lo + batch]
            opt.zero_grad(set_to_none=True)
            logits, inputs, outputs = forward_kept(model, x[idx])
            F.cross_entropy(logits, y[idx]).backward()
            t0 = time.perf_counter()
            with torch.no_grad():
                score_step(p, idx, inputs, outputs, coef[t], eta[t], scores)
            extra += time.perf_counter() - t0
            opt.step()
            t += 1
    return scores, extra


def hydra(args, init, x, y, xt, yt, orders, final_model):
    """hydra times first-order HyDRA scoring of every training point."""
    steps = len(orders) * -(-x.shape[0] // args.batch)
    eta = [args.lr] * steps
    coef = coefficients(eta, args.momentum, args.weight_decay)

    t0 = time.perf_counter()
    p = prepare(final_model, x, y, xt, yt)
    t1 = time.perf_counter()
    model = build_model().to(x.device)
    model.load_state_dict(init)
    opt = new_optimizer(model, args)
    scores, extra = replay(model, opt, x, y, orders, args.batch, p,
                           coef, eta)
    sync(x.device)
    t2 = time.perf_counter()
    test = scores["test"]
    return {
        "prepare_s": t1 - t0,
        "replay_s": t2 - t1,
        "extra_s": extra,
        "score_s": t2 - t0,
        "test_loss_score_sum": test.sum().item(),
        "top_helpful": test.argmax().item(),
    }


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", help="folder with the MNIST .gz IDX files")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu",
                    help="cpu or cuda (eager mode on the first GPU)")
    ap.add_argument("--hydra", action="store_true",
                    help="also score every training point by HyDRA")
    return ap.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    x, y = (t.to(dev) for t in load_split(args.data_dir, "train"))
    xt, yt = (t.to(dev) for t in load_split(args.data_dir, "t10k"))

    model = build_model().to(dev)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    opt = new_optimizer(model, args)
    orders = [o.to(dev) for o in
              batch_orders(x.shape[0], args.epochs, args.seed)]
    times, accs = [], []
    for order in orders:
        sync(dev)
        t0 = time.perf_counter()
        train_epoch(model, opt, x, y, order, args.batch)
        sync(dev)
        times.append(time.perf_counter() - t0)
        accs.append(accuracy(model, xt, yt))

    flop = flop_per_epoch(x.shape[0])
    med = statistics.median(times)
    out = {
        "peer": "torch",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(dev),
        "sizes": list(SIZES),
        "n_train": x.shape[0],
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "epoch_s": times,
        "epoch_s_min": min(times),
        "epoch_s_median": med,
        "gflop_per_epoch": flop / 1e9,
        "gflops_median": flop / med / 1e9,
        "test_accuracy_by_epoch": accs,
        "test_accuracy": accs[-1],
    }
    if args.hydra:
        h = hydra(args, init, x, y, xt, yt, orders, model)
        h["train_s"] = sum(times)
        h["score_over_train"] = h["score_s"] / h["train_s"]
        out["hydra"] = h
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
