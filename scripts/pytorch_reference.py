#!/usr/bin/env python3
"""The classic VAE in PyTorch, on the same embedded data, for comparing losses and speed.

Not part of the tests. Usage:
    pip install torch
    python3 scripts/pytorch_reference.py [--epochs 10] [--threads 2] [--seed 42]

Same model (784-400-20, ReLU), same loss (Bernoulli log-likelihood from logits summed per image,
analytic KL, averaged over the batch), same optimizer (Adam, lr 1e-3), same batch size (128),
PyTorch's default initialisation (which the Rust crate reproduces), the same train/test split.
By default the shuffling, the noise and the initial weights come from torch's generator, so the
numbers agree with the Rust run in distribution only. `cargo bench --bench train` passes --order,
--noise, --eval-noise and --init, written by the Rust side: then both compute the same function on
the same batches, and their losses agree to float rounding. Prints one line per epoch and a JSON
summary at the end.
"""
import argparse
import gzip
import json
import os
import struct
import time

import torch
import torch.nn.functional as F
from torch import nn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-subset")


def read_images(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051, name
    return torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, rows * cols).float() / 255.0


def read_f32(path):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32)


def load_safetensors(path):
    """A minimal reader for the safetensors format (8-byte header size, JSON header, raw data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + a : 8 + n + b]), dtype=torch.float32).reshape(info["shape"])
    return out


# Parameter names of the Rust crate -> this module's attributes.
RUST_NAMES = {"encoder.hidden": "hidden", "encoder.mu": "mu", "encoder.logvar": "logvar",
              "decoder.hidden": "dec_hidden", "decoder.out": "dec_out"}


class VAE(nn.Module):
    def __init__(self, hidden=400, latent=20):
        super().__init__()
        self.hidden = nn.Linear(784, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec_hidden = nn.Linear(latent, hidden)
        self.dec_out = nn.Linear(hidden, 784)

    def forward(self, x, eps=None):
        h = F.relu(self.hidden(x))
        mu, logvar = self.mu(h), self.logvar(h)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.dec_out(F.relu(self.dec_hidden(z))), mu, logvar


def loss_terms(x, logits, mu, logvar):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return recon, kl


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--order", help="file of little-endian u32 training-set permutations, one per epoch "
                   "(written by `cargo bench --bench train`), for the same batch order as the Rust run")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--init", help="initial weights (safetensors with the Rust parameter names)")
    p.add_argument("--noise", help="f32 noise for every training batch, in order")
    p.add_argument("--eval-noise", help="f32 noise for the test evaluation (the same every epoch)")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    x_train = read_images("train-images-idx3-ubyte.gz").to(dev)
    x_test = read_images("t10k-images-idx3-ubyte.gz").to(dev)
    model = VAE().to(dev)
    if args.init:
        weights = load_safetensors(args.init)
        with torch.no_grad():
            for rust, attr in RUST_NAMES.items():
                getattr(model, attr).weight.copy_(weights[f"{rust}.weight"].to(dev))
                getattr(model, attr).bias.copy_(weights[f"{rust}.bias"].to(dev))
    noise = read_f32(args.noise).to(dev) if args.noise else None
    eval_noise = read_f32(args.eval_noise).reshape(len(x_test), -1).to(dev) if args.eval_noise else None
    used = 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    orders = None
    if args.order:
        with open(args.order, "rb") as f:
            raw = f.read()
        orders = torch.frombuffer(bytearray(raw), dtype=torch.int32).long().reshape(-1, len(x_train)).to(dev)
    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        perm = orders[epoch - 1] if orders is not None else torch.randperm(len(x_train), device=dev)
        total = 0.0
        for i in range(0, len(x_train), args.batch_size):
            x = x_train[perm[i : i + args.batch_size]]
            eps = None
            if noise is not None:
                eps = noise[used : used + len(x) * 20].reshape(len(x), 20)
                used += len(x) * 20
            recon, kl = loss_terms(x, *model(x, eps))
            loss = recon + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        train_seconds = time.perf_counter() - start
        with torch.no_grad():
            recon, kl = loss_terms(x_test, *model(x_test, eval_noise))
        seconds = time.perf_counter() - start
        m = dict(epoch=epoch, train_loss=total / len(x_train), test_loss=(recon + kl).item(),
                 recon=recon.item(), kl=kl.item(), train_seconds=train_seconds, seconds=seconds)
        history.append(m)
        print(f"epoch {epoch:>2}: train {m['train_loss']:.2f} test {m['test_loss']:.2f} "
              f"(recon {m['recon']:.2f} + kl {m['kl']:.2f}) {seconds:.2f} s", flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "epochs": history}))


if __name__ == "__main__":
    main()
