//! One training step of the classic VAE with its gradient written out by hand, for the CPU.
//!
//! Autograd records every operation and, on the way back, allocates and accumulates a gradient
//! for each of them. For a model this small that bookkeeping costs as much as the arithmetic, so
//! the trainer runs this instead: the same forward pass, then the chain rule applied by hand,
//! into buffers that are reused from step to step. With `B` images, `delta = 1 / B`, and `.` the
//! element-wise product:
//!
//! ```text
//! h1 = relu(x W1^T + b1)      mu = h1 Wmu^T + bmu      lv = h1 Wlv^T + blv
//! s  = exp(lv / 2)            z  = mu + s . eps
//! h2 = relu(z W3^T + b3)      l  = h2 W4^T + b4
//! loss = delta sum_i [ sum_j softplus(l_ij) - x_ij l_ij  -  1/2 sum_k (1 + lv_ik - mu_ik^2 - e^lv_ik) ]
//!
//! dl  = delta (sigmoid(l) - x)               dW4 = dl^T h2     db4 = sum_rows dl
//! dh2 = (dl W4) . [h2 > 0]                   dW3 = dh2^T z     db3 = sum_rows dh2
//! dz  = dh2 W3
//! dmu = dz + delta mu                        dWmu = dmu^T h1   dbmu = sum_rows dmu
//! dlv = dz . eps . s / 2 + delta (e^lv - 1) / 2                dWlv = dlv^T h1   dblv = sum_rows dlv
//! dh1 = (dmu Wmu + dlv Wlv) . [h1 > 0]       dW1 = dh1^T x     db1 = sum_rows dh1
//! ```
//!
//! `tests/fused.rs` checks every gradient against candle's autograd on the plain model.

use crate::cpu::fused::{Mat, bernoulli_nll_rows, matmul_into, sum_rows_into};
use crate::models::vae::Vae;
use candle_core::{CpuStorage, Result, Storage, Tensor, bail};

/// The loss terms of one batch, averaged over its images (nats per image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLoss {
    pub total: f64,
    pub recon: f64,
    pub kl: f64,
}

/// Buffers for the activations and gradients of one step, kept between steps.
#[derive(Default)]
pub struct ManualStep {
    h1: Vec<f32>,
    mu: Vec<f32>,
    lv: Vec<f32>,
    s: Vec<f32>,
    z: Vec<f32>,
    h2: Vec<f32>,
    l: Vec<f32>,
    nll: Vec<f32>,
    dl: Vec<f32>,
    dh2: Vec<f32>,
    dz: Vec<f32>,
    dmu: Vec<f32>,
    dlv: Vec<f32>,
    dh1: Vec<f32>,
    /// Gradients by parameter name, in [`Vae::layers`] order: weight then bias.
    grads: Vec<(String, Vec<f32>)>,
}

fn resize(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    v.resize(n, 0.0);
    &mut v[..]
}

/// `dst = rows of (a W^T + b)` for `a: (rows, in)`, `w: (out, in)`.
fn linear_into(dst: &mut [f32], a: &[f32], w: &[f32], b: &[f32], rows: usize, inp: usize) {
    let out = b.len();
    for row in dst.chunks_exact_mut(out) {
        row.copy_from_slice(b);
    }
    matmul_into(dst, true, Mat::rows(a, inp), Mat::transposed(w, inp), rows, inp, out);
}

fn relu_in_place(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// `dh = dh . [h > 0]`.
fn relu_mask(dh: &mut [f32], h: &[f32]) {
    dh.iter_mut().zip(h).for_each(|(d, &h)| {
        if h <= 0.0 {
            *d = 0.0
        }
    });
}

impl ManualStep {
    pub fn new() -> Self {
        Self::default()
    }

    /// The gradient of `name` (for example `decoder.out.weight`) from the last [`ManualStep::run`].
    pub fn grad(&self, name: &str) -> Option<&[f32]> {
        self.grads.iter().find(|(n, _)| n == name).map(|(_, g)| g.as_slice())
    }

    /// Forward and backward pass for a batch `x: (rows, input_dim)` with noise `eps: (rows,
    /// latent_dim)`, both row-major. Returns the loss; the gradients are kept for [`Self::grad`].
    pub fn run(&mut self, model: &Vae, x: &[f32], eps: &[f32], rows: usize, beta: f64) -> Result<StepLoss> {
        let cfg = model.cfg;
        let dims = (cfg.input_dim, cfg.hidden, cfg.latent_dim);
        if x.len() != rows * dims.0 || eps.len() != rows * dims.2 || rows == 0 {
            bail!("manual step: {} pixels and {} noise values for {rows} rows", x.len(), eps.len())
        }
        let tensors: Vec<&Tensor> = model
            .layers()
            .iter()
            .flat_map(|(_, l)| [Some(l.weight()), l.bias()])
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| candle_core::Error::Msg("manual step: a layer has no bias".into()))?;
        let guards: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
        let mut params = Vec::with_capacity(guards.len());
        for (guard, layout) in &guards {
            let (Storage::Cpu(CpuStorage::F32(data)), Some((a, b))) = (&**guard, layout.contiguous_offsets()) else {
                bail!("manual step: parameters must be contiguous f32 tensors on the CPU")
            };
            params.push(&data[a..b]);
        }
        let [w1, b1, wmu, bmu, wlv, blv, w3, b3, w4, b4] = params[..] else {
            bail!("manual step: expected 10 tensors")
        };
        let p = Params { w1, b1, wmu, bmu, wlv, blv, w3, b3, w4, b4 };
        let (recon, kl) = self.forward(&p, x, eps, rows, dims);
        if self.grads.len() != 10 {
            let names = model.layers().map(|(n, _)| n);
            self.grads =
                names.iter().flat_map(|n| [format!("{n}.weight"), format!("{n}.bias")]).map(|n| (n, vec![])).collect();
        }
        self.backward(&p, (x, eps), rows, dims, beta)?;
        Ok(StepLoss { total: recon + beta * kl, recon, kl })
    }

    /// The forward pass into the step's buffers; returns the batch's mean reconstruction term and
    /// KL, and leaves the loss's gradient with respect to the logits in `dl`.
    fn forward(&mut self, p: &Params, x: &[f32], eps: &[f32], rows: usize, (inp, hid, lat): Dims) -> (f64, f64) {
        let Params { w1, b1, wmu, bmu, wlv, blv, w3, b3, w4, b4 } = *p;
        let delta = 1.0 / rows as f32;
        let h1 = resize(&mut self.h1, rows * hid);
        linear_into(h1, x, w1, b1, rows, inp);
        relu_in_place(h1);
        let mu = resize(&mut self.mu, rows * lat);
        linear_into(mu, h1, wmu, bmu, rows, hid);
        let lv = resize(&mut self.lv, rows * lat);
        linear_into(lv, h1, wlv, blv, rows, hid);
        let s = resize(&mut self.s, rows * lat);
        let z = resize(&mut self.z, rows * lat);
        for i in 0..rows * lat {
            s[i] = (0.5 * lv[i]).exp();
            z[i] = mu[i] + s[i] * eps[i];
        }
        let h2 = resize(&mut self.h2, rows * hid);
        linear_into(h2, z, w3, b3, rows, lat);
        relu_in_place(h2);
        let l = resize(&mut self.l, rows * inp);
        linear_into(l, h2, w4, b4, rows, hid);

        // Loss, and its gradient with respect to the logits.
        let nll = resize(&mut self.nll, rows);
        let dl = resize(&mut self.dl, rows * inp);
        bernoulli_nll_rows(l, x, inp, delta, nll, dl);
        let recon = nll.iter().map(|&v| v as f64).sum::<f64>() / rows as f64;
        let kl = (0..rows * lat).map(|i| (1.0 + lv[i] - mu[i] * mu[i] - lv[i].exp()) as f64).sum::<f64>() * -0.5
            / rows as f64;
        (recon, kl)
    }

    /// The backward pass, layer by layer from the output, into `grads`.
    fn backward(
        &mut self,
        p: &Params,
        (x, eps): (&[f32], &[f32]),
        rows: usize,
        (inp, hid, lat): Dims,
        beta: f64,
    ) -> Result<()> {
        let Params { wmu, wlv, w3, w4, .. } = *p;
        let delta = 1.0 / rows as f32;
        let (mu, lv, s, z, h1, h2, dl) = (&self.mu, &self.lv, &self.s, &self.z, &self.h1, &self.h2, &self.dl);
        let sizes = [hid * inp, hid, lat * hid, lat, lat * hid, lat, hid * lat, hid, inp * hid, inp];
        for ((_, g), n) in self.grads.iter_mut().zip(sizes) {
            g.resize(n, 0.0);
        }
        let [g_w1, g_b1, g_wmu, g_bmu, g_wlv, g_blv, g_w3, g_b3, g_w4, g_b4] = &mut self.grads[..] else {
            bail!("manual step: expected 10 gradients")
        };
        // ANCHOR: backward
        matmul_into(&mut g_w4.1, false, Mat::transposed(dl, inp), Mat::rows(h2, hid), inp, rows, hid);
        sum_rows_into(dl, &mut g_b4.1);
        let dh2 = resize(&mut self.dh2, rows * hid);
        matmul_into(dh2, false, Mat::rows(dl, inp), Mat::rows(w4, hid), rows, inp, hid);
        relu_mask(dh2, h2);
        matmul_into(&mut g_w3.1, false, Mat::transposed(dh2, hid), Mat::rows(z, lat), hid, rows, lat);
        sum_rows_into(dh2, &mut g_b3.1);
        let dz = resize(&mut self.dz, rows * lat);
        matmul_into(dz, false, Mat::rows(dh2, hid), Mat::rows(w3, lat), rows, hid, lat);
        let dmu = resize(&mut self.dmu, rows * lat);
        let dlv = resize(&mut self.dlv, rows * lat);
        let kl_scale = beta as f32 * delta; // d(beta * KL / rows)
        for i in 0..rows * lat {
            dmu[i] = dz[i] + kl_scale * mu[i];
            dlv[i] = 0.5 * dz[i] * eps[i] * s[i] + 0.5 * kl_scale * (lv[i].exp() - 1.0);
        }
        matmul_into(&mut g_wmu.1, false, Mat::transposed(dmu, lat), Mat::rows(h1, hid), lat, rows, hid);
        sum_rows_into(dmu, &mut g_bmu.1);
        matmul_into(&mut g_wlv.1, false, Mat::transposed(dlv, lat), Mat::rows(h1, hid), lat, rows, hid);
        sum_rows_into(dlv, &mut g_blv.1);
        let dh1 = resize(&mut self.dh1, rows * hid);
        matmul_into(dh1, false, Mat::rows(dmu, lat), Mat::rows(wmu, hid), rows, lat, hid);
        matmul_into(dh1, true, Mat::rows(dlv, lat), Mat::rows(wlv, hid), rows, lat, hid);
        relu_mask(dh1, h1);
        matmul_into(&mut g_w1.1, false, Mat::transposed(dh1, hid), Mat::rows(x, inp), hid, rows, inp);
        sum_rows_into(dh1, &mut g_b1.1);
        // ANCHOR_END: backward
        Ok(())
    }
}

/// Pixels, hidden units and latent units.
type Dims = (usize, usize, usize);

/// The ten parameter tensors of the VAE, as slices, in the order of [`Vae::layers`].
#[derive(Clone, Copy)]
struct Params<'a> {
    w1: &'a [f32],
    b1: &'a [f32],
    wmu: &'a [f32],
    bmu: &'a [f32],
    wlv: &'a [f32],
    blv: &'a [f32],
    w3: &'a [f32],
    b3: &'a [f32],
    w4: &'a [f32],
    b4: &'a [f32],
}
