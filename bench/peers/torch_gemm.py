#!/usr/bin/env python3
"""Peer for BenchmarkCUDAGemm: float32 matrix products through PyTorch,
which calls cuBLAS on a GPU. Prints one JSON line per shape with GFLOP/s.

Usage: torch_gemm.py [--device cuda|cpu] [--repeats N]
"""
import argparse
import json
import time

import torch

SHAPES = [(128, 128, 784), (128, 784, 128), (128, 10, 128),
          (1024, 1024, 1024), (4096, 4096, 4096)]


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # plain float32, as ours
    gen = torch.Generator().manual_seed(1)
    for m, n, k in SHAPES:
        a = torch.rand(m, k, generator=gen).to(args.device)
        b = torch.rand(k, n, generator=gen).to(args.device)
        c = a @ b
        sync(args.device)
        start = time.perf_counter()
        for _ in range(args.repeats):
            c = a @ b
            sync(args.device)
        secs = (time.perf_counter() - start) / args.repeats
        print(json.dumps({"peer": "torch", "device": args.device,
                          "m": m, "n": n, "k": k,
                          "gflops": 2 * m * n * k / secs / 1e9}))
    del c


if __name__ == "__main__":
    main()
