//! The classic VAE of Kingma & Welling (2014), in the shape of PyTorch's `examples/vae`:
//! encoder 784-400-(20 mean, 20 log-variance), decoder 20-400-784, ReLU, Bernoulli decoder.
//!
//! Per image, the loss is the negative ELBO (Kingma & Welling 2014, Eq. 10), in nats:
//! `-ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || p(z))`, with one reparameterized sample of `z`
//! for the first term and the closed form for the second.

use crate::cpu::fused;
use crate::prob;
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

/// The sizes of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Pixels per image (28 * 28 for MNIST).
    pub input_dim: usize,
    /// Units of the single hidden layer of the encoder and of the decoder.
    pub hidden: usize,
    /// Dimensions of z.
    pub latent_dim: usize,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self { input_dim: 784, hidden: 400, latent_dim: 20 }
    }
}

impl VaeConfig {
    /// A tiny model for tests.
    pub fn tiny() -> Self {
        Self { input_dim: 784, hidden: 32, latent_dim: 2 }
    }
}

// ANCHOR: model
/// Encoder `q(z|x)` and decoder `p(x|z)`, both one hidden layer wide.
pub struct Vae {
    hidden: Linear,
    mu: Linear,
    logvar: Linear,
    dec_hidden: Linear,
    dec_out: Linear,
    pub cfg: VaeConfig,
}

// ANCHOR_END: model

/// What one forward pass produces.
pub struct VaeOutput {
    /// Decoder logits, `(batch, input_dim)`: `sigmoid(logits)` are the pixel probabilities.
    pub logits: Tensor,
    /// Mean of `q(z|x)`, `(batch, latent_dim)`.
    pub mu: Tensor,
    /// Log-variance of `q(z|x)`, `(batch, latent_dim)`.
    pub logvar: Tensor,
    /// The reparameterized sample `z = mu + exp(logvar / 2) * eps`, `(batch, latent_dim)`.
    pub z: Tensor,
}

/// The negative ELBO and its two terms, each averaged over the batch, in nats per image.
pub struct Loss {
    /// `recon + kl`: the quantity minimized.
    pub total: Tensor,
    /// `-log p(x|z)`, summed over pixels.
    pub recon: Tensor,
    /// `KL(q(z|x) || N(0, I))`, summed over latent dimensions.
    pub kl: Tensor,
}

// ANCHOR: forward
impl Vae {
    pub fn new(cfg: VaeConfig, vb: VarBuilder) -> Result<Self> {
        let enc = vb.pp("encoder");
        let dec = vb.pp("decoder");
        Ok(Self {
            hidden: linear(cfg.input_dim, cfg.hidden, enc.pp("hidden"))?,
            mu: linear(cfg.hidden, cfg.latent_dim, enc.pp("mu"))?,
            logvar: linear(cfg.hidden, cfg.latent_dim, enc.pp("logvar"))?,
            dec_hidden: linear(cfg.latent_dim, cfg.hidden, dec.pp("hidden"))?,
            dec_out: linear(cfg.hidden, cfg.input_dim, dec.pp("out"))?,
            cfg,
        })
    }

    /// The five layers with their parameter-name prefixes, encoder first.
    pub fn layers(&self) -> [(&'static str, &Linear); 5] {
        [
            ("encoder.hidden", &self.hidden),
            ("encoder.mu", &self.mu),
            ("encoder.logvar", &self.logvar),
            ("decoder.hidden", &self.dec_hidden),
            ("decoder.out", &self.dec_out),
        ]
    }

    /// The device the weights live on.
    pub fn device(&self) -> &candle_core::Device {
        self.hidden.weight().device()
    }

    /// `x: (batch, input_dim)` to the mean and log-variance of `q(z|x)`.
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.hidden.forward(x)?.relu()?; // (batch, hidden)
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// `z: (batch, latent_dim)` to decoder logits `(batch, input_dim)`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.dec_out.forward(&self.dec_hidden.forward(z)?.relu()?)
    }

    /// Encode, sample `z` with the given standard-normal noise `eps`, decode.
    pub fn forward(&self, x: &Tensor, eps: &Tensor) -> Result<VaeOutput> {
        let (mu, logvar) = self.encode(x)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let logits = self.decode(&z)?;
        Ok(VaeOutput { logits, mu, logvar, z })
    }
}

// ANCHOR_END: forward

impl Vae {
    /// The same computation as [`Vae::forward`] through the fused CPU kernels of
    /// [`crate::cpu::fused`]: what the trainer runs on the CPU. Other devices take the plain path.
    pub fn forward_fast(&self, x: &Tensor, eps: &Tensor) -> Result<VaeOutput> {
        if !self.device().is_cpu() {
            return self.forward(x, eps);
        }
        let (mu, logvar) = self.encode_fast(x)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let logits = self.decode_fast(&z)?;
        Ok(VaeOutput { logits, mu, logvar, z })
    }

    /// [`Vae::encode`] through the fused CPU kernels (no gradient to `x`, which is data).
    pub fn encode_fast(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        if !self.device().is_cpu() {
            return self.encode(x);
        }
        let h = fused::relu(&fused_linear(&self.hidden, x, false)?)?;
        Ok((fused_linear(&self.mu, &h, true)?, fused_linear(&self.logvar, &h, true)?))
    }

    /// [`Vae::decode`] through the fused CPU kernels.
    pub fn decode_fast(&self, z: &Tensor) -> Result<Tensor> {
        if !self.device().is_cpu() {
            return self.decode(z);
        }
        fused_linear(&self.dec_out, &fused::relu(&fused_linear(&self.dec_hidden, z, true)?)?, true)
    }
}

fn fused_linear(l: &Linear, h: &Tensor, input_grad: bool) -> Result<Tensor> {
    let b = l.bias().ok_or_else(|| candle_core::Error::Msg("linear layer without bias".into()))?;
    fused::linear(h, l.weight(), b, input_grad)
}

/// `log p(x | logits)` per row under independent Bernoullis: the fused kernel on the CPU, the
/// plain formula elsewhere.
pub fn bernoulli_log_likelihood_fast(x: &Tensor, logits: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        fused::bernoulli_nll(x, logits)?.neg()
    } else {
        prob::bernoulli_log_likelihood_logits(x, logits)
    }
}

/// What the figures and latent-space tools need from any VAE: an encoder to `(mu, logvar)`, a
/// decoder to pixel logits, and the size of the code. The MLP [`Vae`] and the
/// [`crate::models::conv_vae::ConvVae`] both implement it.
pub trait Autoencoder {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)>;
    fn decode(&self, z: &Tensor) -> Result<Tensor>;
    fn latent_dim(&self) -> usize;
    fn device(&self) -> &Device;
}

impl Autoencoder for Vae {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Vae::encode(self, x)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        Vae::decode(self, z)
    }

    fn latent_dim(&self) -> usize {
        self.cfg.latent_dim
    }

    fn device(&self) -> &Device {
        Vae::device(self)
    }
}

// ANCHOR: loss
/// The negative ELBO of a batch: pixel terms summed per image, then averaged over images.
pub fn negative_elbo(x: &Tensor, out: &VaeOutput) -> Result<Loss> {
    let recon = prob::bernoulli_log_likelihood_logits(x, &out.logits)?.neg()?.mean_all()?;
    let kl = prob::kl_standard_normal(&out.mu, &out.logvar)?.mean_all()?;
    let total = (&recon + &kl)?;
    Ok(Loss { total, recon, kl })
}
// ANCHOR_END: loss

/// [`negative_elbo`] with the fused Bernoulli kernel on the CPU (same value, fewer passes).
pub fn negative_elbo_fast(x: &Tensor, out: &VaeOutput) -> Result<Loss> {
    if !x.device().is_cpu() {
        return negative_elbo(x, out);
    }
    let recon = fused::bernoulli_nll(x, &out.logits)?.mean_all()?;
    let kl = prob::kl_standard_normal(&out.mu, &out.logvar)?.mean_all()?;
    let total = (&recon + &kl)?;
    Ok(Loss { total, recon, kl })
}
