//! A convolutional VAE, the shape of the Keras example ("Variational AutoEncoder", F. Chollet):
//! two stride-2 convolutions and a small dense layer down to the code, a dense layer and
//! transposed convolutions back up.
//!
//! ```text
//! encoder: 1x28x28 -conv 3x3/2-> 32x14x14 -conv 3x3/2-> 64x7x7 -dense-> 16 -> mu, log-variance
//! decoder: z -dense-> 64x7x7 -deconv 3x3/2-> 64x14x14 -deconv 3x3/2-> 32x28x28 -deconv 3x3-> 1x28x28 logits
//! ```
//!
//! It has the same interface as the MLP [`crate::models::vae::Vae`] (`encode`, `decode`, `forward`), and the
//! same loss ([`crate::models::vae::negative_elbo`]); it trains with candle's autograd, on the CPU
//! through the fast convolutions of [`crate::cpu::conv`] ([`ConvVae::forward_fast`], tested equal).

use crate::cpu::{conv, fused};
use crate::data::Images;
use crate::init;
use crate::models::vae::{VaeOutput, negative_elbo_fast};
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConvVaeConfig {
    pub latent_dim: usize,
}

// ANCHOR: model
pub struct ConvVae {
    conv1: Conv2d,
    conv2: Conv2d,
    dense: Linear,
    mu: Linear,
    logvar: Linear,
    dec_dense: Linear,
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
    deconv3: ConvTranspose2d,
    pub cfg: ConvVaeConfig,
    device: Device,
}

impl ConvVae {
    pub fn new(cfg: ConvVaeConfig, vb: VarBuilder) -> Result<Self> {
        // Stride 2 with padding 1 halves the side: 28 -> 14 -> 7.
        let down = Conv2dConfig { padding: 1, stride: 2, ..Default::default() };
        // Transposed: (side - 1) * 2 - 2 + 3 + 1 doubles it back: 7 -> 14 -> 28.
        let up = ConvTranspose2dConfig { padding: 1, output_padding: 1, stride: 2, ..Default::default() };
        let same = ConvTranspose2dConfig { padding: 1, ..Default::default() };
        let (enc, dec) = (vb.pp("encoder"), vb.pp("decoder"));
        Ok(Self {
            conv1: candle_nn::conv2d(1, 32, 3, down, enc.pp("conv1"))?,
            conv2: candle_nn::conv2d(32, 64, 3, down, enc.pp("conv2"))?,
            dense: candle_nn::linear(64 * 7 * 7, 16, enc.pp("dense"))?,
            mu: candle_nn::linear(16, cfg.latent_dim, enc.pp("mu"))?,
            logvar: candle_nn::linear(16, cfg.latent_dim, enc.pp("logvar"))?,
            dec_dense: candle_nn::linear(cfg.latent_dim, 64 * 7 * 7, dec.pp("dense"))?,
            deconv1: candle_nn::conv_transpose2d(64, 64, 3, up, dec.pp("deconv1"))?,
            deconv2: candle_nn::conv_transpose2d(64, 32, 3, up, dec.pp("deconv2"))?,
            deconv3: candle_nn::conv_transpose2d(32, 1, 3, same, dec.pp("deconv3"))?,
            cfg,
            device: vb.device().clone(),
        })
    }

    /// `x` is `(batch, 784)` as for the MLP; returns `mu` and `logvar`, each `(batch, latent)`.
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.features(x)?; // (n, 16)
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// The encoder up to its dense layer of 16 units, from which the code is read: `(batch, 16)`.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let h = x.reshape((n, 1, 28, 28))?;
        let h = self.conv1.forward(&h)?.relu()?; // (n, 32, 14, 14)
        let h = self.conv2.forward(&h)?.relu()?; // (n, 64, 7, 7)
        self.dense.forward(&h.flatten_from(1)?)?.relu() // (n, 16)
    }

    /// Logits of the pixels, `(batch, 784)`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        let h = self.dec_dense.forward(z)?.relu()?.reshape((n, 64, 7, 7))?;
        let h = self.deconv1.forward(&h)?.relu()?; // (n, 64, 14, 14)
        let h = self.deconv2.forward(&h)?.relu()?; // (n, 32, 28, 28)
        self.deconv3.forward(&h)?.reshape((n, 784)) // (n, 1, 28, 28) -> logits
    }

    pub fn forward(&self, x: &Tensor, eps: &Tensor) -> Result<VaeOutput> {
        let (mu, logvar) = self.encode(x)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let logits = self.decode(&z)?;
        Ok(VaeOutput { logits, mu, logvar, z })
    }
}
// ANCHOR_END: model

impl ConvVae {
    /// The same computation as [`ConvVae::forward`] through the fast CPU kernels of
    /// [`crate::cpu::conv`] and [`crate::cpu::fused`]: what the trainer runs on the CPU. Other
    /// devices take the plain path.
    pub fn forward_fast(&self, x: &Tensor, eps: &Tensor) -> Result<VaeOutput> {
        if !self.device.is_cpu() {
            return self.forward(x, eps);
        }
        let (mu, logvar) = self.encode_fast(x)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let logits = self.decode_fast(&z)?;
        Ok(VaeOutput { logits, mu, logvar, z })
    }

    /// [`ConvVae::encode`] on the fast kernels (no gradient to `x`, which is data).
    fn encode_fast(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = x.dim(0)?;
        let h = conv::conv2d_relu(&self.conv1, &x.reshape((n, 1, 28, 28))?, false)?;
        let h = conv::conv2d_relu(&self.conv2, &h, true)?;
        let h = fused::relu(&fused_linear(&self.dense, &h.flatten_from(1)?)?)?;
        Ok((fused_linear(&self.mu, &h)?, fused_linear(&self.logvar, &h)?))
    }

    /// [`ConvVae::decode`] on the fast kernels.
    fn decode_fast(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        let h = fused::relu(&fused_linear(&self.dec_dense, z)?)?.reshape((n, 64, 7, 7))?;
        let h = conv::conv_transpose2d_relu(&self.deconv1, &h)?;
        let h = conv::conv_transpose2d_relu(&self.deconv2, &h)?;
        conv::conv_transpose2d(&self.deconv3, &h)?.reshape((n, 784))
    }
}

fn fused_linear(l: &Linear, h: &Tensor) -> Result<Tensor> {
    let Some(b) = l.bias() else { candle_core::bail!("linear layer without bias") };
    fused::linear(h, l.weight(), b, true)
}

impl crate::models::vae::Autoencoder for ConvVae {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        ConvVae::encode(self, x)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        ConvVae::decode(self, z)
    }

    fn latent_dim(&self) -> usize {
        self.cfg.latent_dim
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

/// Builds the model's variables in `varmap` and initialises them like PyTorch's defaults from `seed`.
pub fn build(cfg: ConvVaeConfig, varmap: &VarMap, seed: u64, dev: &Device) -> Result<ConvVae> {
    let model = ConvVae::new(cfg, VarBuilder::from_varmap(varmap, DType::F32, dev))?;
    init::pytorch_default_init(varmap, seed)?;
    Ok(model)
}

impl Model for ConvVae {
    type Config = ConvVaeConfig;
    type Data = Images;
    const NAME: &'static str = "conv";

    fn new(cfg: &ConvVaeConfig, vb: VarBuilder) -> Result<Self> {
        ConvVae::new(*cfg, vb)
    }

    fn rows(data: &Images) -> usize {
        data.train_labels.len()
    }

    /// The negative ELBO of a batch of grey-level training images (per image).
    fn loss(&self, cfg: &ConvVaeConfig, data: &Images, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let x = data.batch(at.rows)?;
        let eps = noise.normal(&[at.rows.len(), cfg.latent_dim], x.device())?;
        let l = negative_elbo_fast(&x, &self.forward_fast(&x, &eps)?)?;
        Ok(LossTerms::new(l.total, vec![("recon", l.recon), ("kl", l.kl)]))
    }

    fn evaluate(&self, _cfg: &ConvVaeConfig, data: &Images, seed: u64) -> Result<Score> {
        let (loss, recon, kl) = evaluate(self, &data.test, seed)?;
        Ok(Score { loss, terms: vec![("recon".into(), recon), ("kl".into(), kl)] })
    }
}

/// The test negative ELBO (one sample per image, noise from `seed`), in chunks.
pub fn evaluate(model: &ConvVae, x: &Tensor, seed: u64) -> Result<(f64, f64, f64)> {
    let mut rng = SeededRng::derived(seed, "eval", 0);
    let n = x.dim(0)?;
    let (mut total, mut recon, mut kl) = (0.0, 0.0, 0.0);
    for s in (0..n).step_by(500) {
        let xb = x.narrow(0, s, 500.min(n - s))?;
        let eps = rng.normal(&[xb.dim(0)?, model.cfg.latent_dim], x.device())?;
        let l = negative_elbo_fast(&xb, &model.forward_fast(&xb, &eps)?)?;
        let w = xb.dim(0)? as f64;
        total += l.total.to_scalar::<f32>()? as f64 * w;
        recon += l.recon.to_scalar::<f32>()? as f64 * w;
        kl += l.kl.to_scalar::<f32>()? as f64 * w;
    }
    Ok((total / n as f64, recon / n as f64, kl / n as f64))
}
