#!/usr/bin/env python3
"""PyTorch references for the book's other architectures, on the same embedded data, for comparing
losses and speed with `cargo bench --bench models`.

Not part of the tests. Usage:
    python3 scripts/pytorch_models.py --model conv [--epochs 3] [--threads 2] [--init W.safetensors]

`text`: the sentence VAE of `src/models/text_vae.rs` (GRU encoder and decoder sharing one word
embedding, the code added to every decoder input and setting its first state), trained on the
batches the Rust side writes (`--text-train`, `--text-valid`: decoder inputs after word dropout,
targets, lengths, noise, KL weight), from its initial weights (`--init`, required).

`vrnn`: the VRNN of `src/models/vrnn.rs` on the chorales, one Adam step per length bucket, on
the buckets and noise the Rust side writes (`--vrnn-train`, `--vrnn-valid`), from its initial
weights (`--init`, required); the loss is the negative ELBO per time step.

`conv`: the convolutional VAE of `src/models/conv_vae.rs` (the Keras example's shape, 2-D code):
conv 3x3/2 (1->32), conv 3x3/2 (32->64), dense 3136->16, mu and log-variance 16->2; dense 2->3136,
transposed conv 3x3/2 (64->64, output padding 1), transposed conv 3x3/2 (64->32), transposed conv
3x3/1 (32->1); ReLU between layers. Loss: Bernoulli log-likelihood from logits summed per image,
analytic KL, averaged over the batch; Adam, lr 1e-3, batch 128, the embedded 9,000 training and
1,000 test digits. With `--init` (safetensors written by the Rust side, its parameter names) both
start from the same weights; with `--order`, `--noise` and `--eval-noise` as well they compute the
same function on the same batches, so their losses agree to rounding. Prints one line per epoch and a JSON summary at the end.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from pytorch_reference import load_safetensors, read_f32, read_images


def read_u32(path):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.int32).long()


class ConvVAE(nn.Module):
    # Rust parameter prefix -> this module's attribute.
    RUST_NAMES = {"encoder.conv1": "conv1", "encoder.conv2": "conv2", "encoder.dense": "dense",
                  "encoder.mu": "mu", "encoder.logvar": "logvar", "decoder.dense": "dec_dense",
                  "decoder.deconv1": "deconv1", "decoder.deconv2": "deconv2", "decoder.deconv3": "deconv3"}

    def __init__(self, latent=2):
        super().__init__()
        self.latent = latent
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.dense = nn.Linear(64 * 7 * 7, 16)
        self.mu = nn.Linear(16, latent)
        self.logvar = nn.Linear(16, latent)
        self.dec_dense = nn.Linear(latent, 64 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
        self.deconv3 = nn.ConvTranspose2d(32, 1, 3, padding=1)

    def forward(self, x, eps=None):
        n = len(x)
        h = F.relu(self.conv1(x.reshape(n, 1, 28, 28)))
        h = F.relu(self.conv2(h))
        h = F.relu(self.dense(h.flatten(1)))
        mu, logvar = self.mu(h), self.logvar(h)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + torch.exp(0.5 * logvar) * eps
        h = F.relu(self.dec_dense(z)).reshape(n, 64, 7, 7)
        h = F.relu(self.deconv1(h))
        h = F.relu(self.deconv2(h))
        return self.deconv3(h).reshape(n, 784), mu, logvar


def negative_elbo(x, logits, mu, logvar):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return recon, kl


def load_rust_weights(model, path):
    weights = load_safetensors(path)
    with torch.no_grad():
        for rust, attr in model.RUST_NAMES.items():
            getattr(model, attr).weight.copy_(weights[f"{rust}.weight"])
            getattr(model, attr).bias.copy_(weights[f"{rust}.bias"])


def on(dev, t):
    return None if t is None else t.to(dev)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def train_conv(args):
    dev = torch.device(args.device)
    x_train = read_images("train-images-idx3-ubyte.gz").to(dev)
    x_test = read_images("t10k-images-idx3-ubyte.gz").to(dev)
    model = ConvVAE()
    if args.init:
        load_rust_weights(model, args.init)
    model.to(dev)
    orders = on(dev, read_u32(args.order).reshape(-1, len(x_train)) if args.order else None)
    noise = on(dev, read_f32(args.noise).reshape(-1, model.latent) if args.noise else None)
    eval_noise = on(dev, read_f32(args.eval_noise).reshape(len(x_test), -1) if args.eval_noise else None)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history, used = [], 0
    for epoch in range(1, args.epochs + 1):
        sync(dev)
        start = time.perf_counter()
        perm = orders[epoch - 1] if orders is not None else torch.randperm(len(x_train), device=dev)
        total = 0.0
        for i in range(0, len(x_train), args.batch_size):
            x = x_train[perm[i : i + args.batch_size]]
            eps = None
            if noise is not None:
                eps, used = noise[used : used + len(x)], used + len(x)
            recon, kl = negative_elbo(x, *model(x, eps))
            loss = recon + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        sync(dev)
        train_seconds = time.perf_counter() - start
        with torch.no_grad():
            recon, kl = negative_elbo(x_test, *model(x_test, eval_noise))
        m = dict(epoch=epoch, train_loss=total / len(x_train), test_loss=(recon + kl).item(),
                 recon=recon.item(), kl=kl.item(), train_seconds=train_seconds,
                 seconds=time.perf_counter() - start)
        history.append(m)
        print(f"epoch {epoch:>2}: train {m['train_loss']:.2f} test {m['test_loss']:.2f} "
              f"(recon {m['recon']:.2f} + kl {m['kl']:.2f}) {m['train_seconds']:.2f} s", flush=True)
    return history


class SentenceVAE(nn.Module):
    """The sentence VAE of `src/models/text_vae.rs` (Bowman et al. 2016)."""

    # Rust parameter name -> this module's parameter name.
    RUST_NAMES = {"decoder.embed.weight": "embed.weight", "to_latent.weight": "to_latent.weight",
                  "to_latent.bias": "to_latent.bias", "to_state.weight": "to_state.weight",
                  "to_state.bias": "to_state.bias", "decoder.from_z.weight": "from_z.weight",
                  "decoder.from_z.bias": "from_z.bias", "decoder.out.weight": "out.weight",
                  "decoder.out.bias": "out.bias"}
    for gru, prefix in (("encoder", "encoder."), ("decoder", "decoder.gru.")):
        for part in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            RUST_NAMES[prefix + part] = f"{gru}.{part}"

    def __init__(self, vocab, embedding, hidden, latent):
        super().__init__()
        self.latent = latent
        self.embed = nn.Embedding(vocab, embedding)
        self.encoder = nn.GRU(embedding, hidden)
        self.to_latent = nn.Linear(hidden, 2 * latent)
        self.to_state = nn.Linear(latent, hidden)
        self.from_z = nn.Linear(latent, embedding)
        self.decoder = nn.GRU(embedding, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, batch, eps):
        """Per sentence: -log p(x | z) and KL(q(z | x) || p(z))."""
        inputs, targets, mask, last = batch
        states, _ = self.encoder(self.embed(targets))
        both = self.to_latent((states * last).sum(0))
        mu, logvar = both[:, : self.latent], both[:, self.latent :]
        z = mu + torch.exp(0.5 * logvar) * eps
        h0 = torch.tanh(self.to_state(z)).unsqueeze(0)
        states, _ = self.decoder(self.embed(inputs) + self.from_z(z), h0)
        logits = self.out(states)
        nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").reshape(targets.shape)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return (nll * mask).sum(0), kl


class Steps:
    """Reads a step file written by `cargo bench --bench models`: 4-byte values, one step after
    another."""

    def __init__(self, path):
        self.raw, self.at = open(path, "rb").read(), 0

    def more(self):
        return self.at < len(self.raw)

    def take(self, dtype, n):
        out = torch.frombuffer(bytearray(self.raw[self.at : self.at + 4 * n]), dtype=dtype)
        self.at += 4 * n
        return out


def read_text_steps(path):
    """The batches written by `cargo bench --bench models`: per step its sizes, decoder inputs
    (after word dropout), targets, lengths, noise and KL weight."""
    f, steps = Steps(path), []
    while f.more():
        t, b, d = (int(v) for v in f.take(torch.int32, 3))
        inputs, targets = f.take(torch.int32, t * b).long().reshape(t, b), f.take(torch.int32, t * b).long().reshape(t, b)
        lengths = f.take(torch.int32, b).long()
        eps, weight = f.take(torch.float32, b * d).reshape(b, d), float(f.take(torch.float32, 1)[0])
        pos = torch.arange(t).unsqueeze(1)
        mask = (pos < lengths).float()
        last = (pos == lengths - 1).float().unsqueeze(2)
        steps.append(((inputs, targets, mask, last), eps, weight, int(lengths.sum())))
    return steps


def fit(model, lr, data, epochs, losses, units):
    """Adam at `lr` over the training steps of `data = (train, valid)`, cut into `epochs` equal
    parts; `losses = (step_loss, held_out)` give one step's loss and the held-out (total, count).
    Returns one record per epoch, as `cargo bench --bench models` reads them."""
    (train, valid), (step_loss, held_out) = data, losses
    per_epoch = len(train) // epochs
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total = 0.0
        for step in train[(epoch - 1) * per_epoch : epoch * per_epoch]:
            loss = step_loss(step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        train_seconds = time.perf_counter() - start
        with torch.no_grad():
            held, count = held_out(valid)
        m = dict(epoch=epoch, train_loss=total / per_epoch, test_loss=held / count, train_seconds=train_seconds,
                 seconds=time.perf_counter() - start)
        history.append(m)
        print(f"epoch {epoch:>2}: train {m['train_loss']:.4f} per {units[0]}, valid -ELBO {m['test_loss']:.4f} "
              f"per {units[1]}, {train_seconds:.2f} s", flush=True)
    return history


def train_text(args):
    cfg = json.load(open(args.text_config))
    model = SentenceVAE(cfg["vocab"], cfg["embedding"], cfg["hidden"], cfg["latent_dim"])
    weights = load_safetensors(args.init)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for rust, name in model.RUST_NAMES.items():
            params[name].copy_(weights[rust])
    data = read_text_steps(args.text_train), read_text_steps(args.text_valid)

    def step_loss(step):
        batch, eps, weight, tokens = step
        nll, kl = model(batch, eps)
        return (nll.sum() + weight * kl.sum()) / tokens

    def held_out(valid):
        sums = [model(batch, eps) for batch, eps, _, _ in valid]
        return sum(float(nll.sum() + kl.sum()) for nll, kl in sums), sum(len(kl) for _, kl in sums)

    return fit(model, cfg["lr"], data, args.epochs, (step_loss, held_out), ("token", "sentence"))


class VRNN(nn.Module):
    """The VRNN of `src/models/vrnn.rs` (Chung et al. 2015): prior, encoder and decoder read the
    GRU state of the past; the frame features run once for all steps, the loop does the rest."""

    def __init__(self, input_dim, feature, hidden, latent):
        super().__init__()
        self.latent, self.hidden = latent, hidden
        self.phi_x, self.phi_z = nn.Linear(input_dim, feature), nn.Linear(latent, feature)
        self.prior_hidden, self.prior_out = nn.Linear(hidden, feature), nn.Linear(feature, 2 * latent)
        self.encoder_hidden = nn.Linear(feature + hidden, feature)
        self.encoder_out = nn.Linear(feature, 2 * latent)
        self.decoder_hidden, self.decoder_out = nn.Linear(feature + hidden, feature), nn.Linear(feature, input_dim)
        self.gru = nn.GRUCell(2 * feature, hidden)

    def rust_names(self):
        """Rust parameter name -> this module's parameter."""
        names = {"phi_x": self.phi_x, "phi_z": self.phi_z, "prior.hidden": self.prior_hidden,
                 "prior.out": self.prior_out, "encoder.hidden": self.encoder_hidden,
                 "encoder.out": self.encoder_out, "decoder_hidden": self.decoder_hidden,
                 "decoder_out": self.decoder_out}
        out = {f"{k}.{p}": getattr(m, p) for k, m in names.items() for p in ("weight", "bias")}
        for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            out[f"gru.{part}_l0"] = getattr(self.gru, part)
        return out

    def forward(self, x, mask, eps):
        """Per step and sequence, zero on padding: -log p(x_t | z_t, h) and the KL to the prior."""
        steps, batch, _ = x.shape
        fx_all = F.relu(self.phi_x(x))
        h = x.new_zeros(batch, self.hidden)
        dec, q, p = [], [], []
        for t in range(steps):
            fx = fx_all[t]
            p.append(self.prior_out(F.relu(self.prior_hidden(h))).chunk(2, dim=1))
            mu, logvar = self.encoder_out(F.relu(self.encoder_hidden(torch.cat([fx, h], 1)))).chunk(2, dim=1)
            q.append((mu, logvar))
            fz = F.relu(self.phi_z(mu + torch.exp(0.5 * logvar) * eps[t]))
            dec.append(F.relu(self.decoder_hidden(torch.cat([fz, h], 1))))
            h = self.gru(torch.cat([fx, fz], 1), h)
        logits = self.decoder_out(torch.stack(dec))
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(2) * mask
        (qm, qlv), (pm, plv) = [[torch.stack(v) for v in zip(*pairs)] for pairs in (q, p)]
        kl = 0.5 * (plv - qlv + (qlv.exp() + (qm - pm).pow(2)) / plv.exp() - 1).sum(2) * mask
        return nll, kl


def read_vrnn_steps(path):
    """The length buckets written by `cargo bench --bench models`: per step its sizes, frames,
    mask and noise."""
    f, steps = Steps(path), []
    while f.more():
        t, b, d, l = (int(v) for v in f.take(torch.int32, 4))
        x, mask = f.take(torch.float32, t * b * d).reshape(t, b, d), f.take(torch.float32, t * b).reshape(t, b)
        steps.append((x, mask, f.take(torch.float32, t * b * l).reshape(t, b, l)))
    return steps


def train_vrnn(args):
    cfg = json.load(open(args.vrnn_config))
    model = VRNN(cfg["input_dim"], cfg["feature"], cfg["hidden"], cfg["latent_dim"])
    weights = load_safetensors(args.init)
    with torch.no_grad():
        for rust, param in model.rust_names().items():
            param.copy_(weights[rust])
    data = read_vrnn_steps(args.vrnn_train), read_vrnn_steps(args.vrnn_valid)

    def step_loss(step):
        x, mask, eps = step
        nll, kl = model(x, mask, eps)
        return (nll + kl).sum() / mask.sum()

    def held_out(valid):
        sums = [model(x, mask, eps) for x, mask, eps in valid]
        return sum(float((nll + kl).sum()) for nll, kl in sums), sum(float(m.sum()) for _, m, _ in valid)

    return fit(model, cfg["lr"], data, args.epochs, (step_loss, held_out), ("step", "step"))


MODELS = {"conv": train_conv, "text": train_text, "vrnn": train_vrnn}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu", help="conv: cpu or cuda")
    p.add_argument("--init", help="initial weights (safetensors with the Rust parameter names)")
    p.add_argument("--order", help="little-endian u32 training-set permutations, one per epoch")
    p.add_argument("--noise", help="f32 noise for every training batch, in order")
    p.add_argument("--eval-noise", help="f32 noise for the test evaluation (the same every epoch)")
    p.add_argument("--text-config", help="text: the model's sizes and learning rate (JSON)")
    p.add_argument("--text-train", help="text: the training steps of every epoch, in order")
    p.add_argument("--text-valid", help="text: the validation batches and their noise")
    p.add_argument("--vrnn-config", help="vrnn: the model's sizes and learning rate (JSON)")
    p.add_argument("--vrnn-train", help="vrnn: the length buckets of every epoch's steps, in order, with noise")
    p.add_argument("--vrnn-valid", help="vrnn: the validation buckets and their noise")
    args = p.parse_args()
    if args.model != "conv" and args.device != "cpu":
        p.error(f"--device {args.device}: only the conv model runs off the CPU here")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    history = MODELS[args.model](args)
    print(json.dumps({"model": args.model, "torch": torch.__version__, "threads": args.threads,
                      "epochs": history}))


if __name__ == "__main__":
    main()
