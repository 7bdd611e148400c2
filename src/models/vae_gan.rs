//! The VAE-GAN of Larsen, Sønderby, Larochelle and Winther (2016), "Autoencoding beyond pixels
//! using a learned similarity metric", with the MLP VAE's encoder and decoder and an MLP
//! discriminator.
//!
//! The decoder's Bernoulli over pixels is replaced by a Gaussian over the discriminator's hidden
//! features `f` (its layer "l"): reconstruction error is measured where the discriminator tells
//! real from generated, not pixel by pixel. Our `f` is the discriminator's first layer, each row
//! normalized to mean 0 and variance 1: unnormalized, the features grow with the discriminator's
//! weights and the reconstruction term with them (our choice; the paper's convolutional
//! discriminator is not an MLP, and batch normalization, common in such networks, also fixes the
//! features' scale). Three players, each with its own loss (as in Algorithm 1 of the paper, but
//! for the decoder's GAN term: ours is the non-saturating form of Goodfellow et al. 2014), all per
//! image and averaged over the batch:
//!
//! ```text
//! prior   = KL(q(z|x) || N(0, I))
//! llike   = |f(x) - f(x~)|^2 / 2              x~ = Dec(z), z ~ q(z|x)
//! gan     = log D(x) + log(1 - D(x~)) + log(1 - D(x_p))     x_p = Dec(z_p), z_p ~ N(0, I)
//! encoder:        minimize prior + llike
//! decoder:        minimize gamma * llike + [-log D(x~) - log D(x_p)]   (the non-saturating GAN loss)
//! discriminator:  maximize gan
//! ```
//!
//! There is no likelihood of pixels any more, so no ELBO to report: the model is scored by its
//! terms and, in the chapter, by the Fréchet distance of its images.

use crate::data::Images;
use crate::models::vae::Autoencoder;
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, Player, RunConfig, Score, Step};
use candle_core::{D, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

/// The discriminator's slope for negative inputs (LeakyReLU, as DCGAN-style discriminators use).
const LEAK: f64 = 0.2;
/// Test images per chunk in [`evaluate`].
const CHUNK: usize = 500;

/// The chapter's run: 30 epochs (as its VAE), batches of 128, Adam at 3e-4 (the paper's RMSProp rate).
pub const BOOK_RUN: RunConfig = RunConfig { epochs: 30, batch_size: 128, lr: 3e-4, seed: 42, patience: None };

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VaeGanConfig {
    /// Pixels per image.
    pub input_dim: usize,
    /// Hidden units of the encoder and of the decoder (as the MLP VAE).
    pub hidden: usize,
    pub latent_dim: usize,
    /// Units of the discriminator's first layer, whose outputs (normalized) are the features
    /// `f`, and of its second layer.
    pub disc_features: usize,
    pub disc_hidden: usize,
    /// Weight of the feature reconstruction against the GAN loss in the decoder's objective.
    pub gamma: f64,
}

impl Default for VaeGanConfig {
    fn default() -> Self {
        Self { input_dim: 784, hidden: 400, latent_dim: 20, disc_features: 400, disc_hidden: 128, gamma: 1.0 }
    }
}

pub struct VaeGan {
    enc_hidden: Linear,
    mu: Linear,
    logvar: Linear,
    dec_hidden: Linear,
    dec_out: Linear,
    disc_features: Linear,
    disc_hidden: Linear,
    disc_out: Linear,
    pub cfg: VaeGanConfig,
}

/// The three players' variable prefixes.
const ENCODER: &str = "encoder";
const DECODER: &str = "decoder";
const DISCRIMINATOR: &str = "discriminator";

impl VaeGan {
    pub fn new(cfg: VaeGanConfig, vb: VarBuilder) -> Result<Self> {
        let (enc, dec, disc) = (vb.pp(ENCODER), vb.pp(DECODER), vb.pp(DISCRIMINATOR));
        Ok(Self {
            enc_hidden: linear(cfg.input_dim, cfg.hidden, enc.pp("hidden"))?,
            mu: linear(cfg.hidden, cfg.latent_dim, enc.pp("mu"))?,
            logvar: linear(cfg.hidden, cfg.latent_dim, enc.pp("logvar"))?,
            dec_hidden: linear(cfg.latent_dim, cfg.hidden, dec.pp("hidden"))?,
            dec_out: linear(cfg.hidden, cfg.input_dim, dec.pp("out"))?,
            disc_features: linear(cfg.input_dim, cfg.disc_features, disc.pp("features"))?,
            disc_hidden: linear(cfg.disc_features, cfg.disc_hidden, disc.pp("hidden"))?,
            disc_out: linear(cfg.disc_hidden, 1, disc.pp("out"))?,
            cfg,
        })
    }

    /// `(mu, logvar)` of `q(z|x)`.
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.enc_hidden.forward(x)?.relu()?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// Pixel logits of the decoder (the images are their sigmoid).
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.dec_out.forward(&self.dec_hidden.forward(z)?.relu()?)
    }

    /// The discriminator's features `f(x)` and its logit that `x` is real.
    pub fn discriminate(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let f = normalized(&self.disc_features.forward(x)?)?;
        let h = candle_nn::ops::leaky_relu(&f, LEAK)?;
        let h = candle_nn::ops::leaky_relu(&self.disc_hidden.forward(&h)?, LEAK)?;
        let logit = self.disc_out.forward(&h)?.squeeze(D::Minus1)?;
        Ok((f, logit))
    }

    // ANCHOR: losses
    /// The three players' losses on images `x`, with `eps` for the reparameterized code and
    /// `z_p` drawn from the prior (both `(batch, latent_dim)`).
    pub fn losses(&self, x: &Tensor, eps: &Tensor, z_p: &Tensor) -> Result<VaeGanLoss> {
        let (mu, logvar) = self.encode(x)?;
        let x_tilde = candle_nn::ops::sigmoid(&self.decode(&prob::reparameterize(&mu, &logvar, eps)?)?)?;
        let x_p = candle_nn::ops::sigmoid(&self.decode(z_p)?)?;
        let (f_x, real) = self.discriminate(x)?;
        let (f_tilde, recon) = self.discriminate(&x_tilde)?;
        let (_, sampled) = self.discriminate(&x_p)?;
        let prior = prob::kl_standard_normal(&mu, &logvar)?.mean_all()?;
        let llike = ((f_x - f_tilde)?.sqr()?.sum(D::Minus1)? * 0.5)?.mean_all()?;
        // -log D(v) = softplus(-logit), -log(1 - D(v)) = softplus(logit).
        let fooled = (prob::softplus(&recon.neg()?)? + prob::softplus(&sampled.neg()?)?)?.mean_all()?;
        let caught =
            (prob::softplus(&real.neg()?)? + prob::softplus(&recon)? + prob::softplus(&sampled)?)?.mean_all()?;
        Ok(VaeGanLoss { prior, llike, fooled, caught })
    }
    // ANCHOR_END: losses
}

/// The squared error per pixel of the reconstructions of `x` from its code means.
pub fn pixel_error(model: &VaeGan, x: &Tensor) -> Result<f64> {
    let (n, mut sum) = (x.dim(0)?, 0.0);
    for s in (0..n).step_by(CHUNK) {
        let xb = x.narrow(0, s, CHUNK.min(n - s))?;
        let recon = candle_nn::ops::sigmoid(&model.decode(&model.encode(&xb)?.0)?)?;
        sum += (recon - &xb)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    Ok(sum / x.elem_count().max(1) as f64)
}

/// Each row shifted and scaled to mean 0 and variance 1 (layer normalization without learned
/// scale): the feature space keeps its size while the discriminator's weights grow.
fn normalized(h: &Tensor) -> Result<Tensor> {
    let centred = h.broadcast_sub(&h.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + NORM_EPS)?.sqrt()?)
}

/// Added to the variance before dividing by its square root.
const NORM_EPS: f64 = 1e-5;

/// The terms of a batch, each averaged over its images.
pub struct VaeGanLoss {
    /// `KL(q(z|x) || N(0, I))`.
    pub prior: Tensor,
    /// Half the squared distance between the discriminator's features of `x` and of its reconstruction.
    pub llike: Tensor,
    /// The decoder's GAN loss: `-log D(x~) - log D(x_p)`.
    pub fooled: Tensor,
    /// The discriminator's loss: `-log D(x) - log(1 - D(x~)) - log(1 - D(x_p))`.
    pub caught: Tensor,
}

impl Autoencoder for VaeGan {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        VaeGan::encode(self, x)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        VaeGan::decode(self, z)
    }

    fn latent_dim(&self) -> usize {
        self.cfg.latent_dim
    }

    fn device(&self) -> &Device {
        self.mu.weight().device()
    }
}

impl Model for VaeGan {
    type Config = VaeGanConfig;
    type Data = Images;
    const NAME: &'static str = "vaegan";

    fn new(cfg: &VaeGanConfig, vb: VarBuilder) -> Result<Self> {
        VaeGan::new(*cfg, vb)
    }

    fn rows(data: &Images) -> usize {
        data.train_labels.len()
    }

    /// Each player's loss on a batch of grey-level training images; the reported objective is
    /// their sum (it is not minimized as such).
    fn loss(&self, cfg: &VaeGanConfig, data: &Images, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let x = data.batch(at.rows)?;
        let shape = [at.rows.len(), cfg.latent_dim];
        let (eps, z_p) = (noise.normal(&shape, x.device())?, noise.normal(&shape, x.device())?);
        let l = self.losses(&x, &eps, &z_p)?;
        // ANCHOR: players
        let players = vec![
            Player { prefix: ENCODER, loss: (&l.prior + &l.llike)? },
            Player { prefix: DECODER, loss: ((&l.llike * cfg.gamma)? + &l.fooled)? },
            Player { prefix: DISCRIMINATOR, loss: l.caught.clone() },
        ];
        // ANCHOR_END: players
        let objective = (((&l.prior + &l.llike)? + &l.fooled)? + &l.caught)?;
        let terms = vec![("prior", l.prior), ("llike", l.llike), ("fooled", l.fooled), ("caught", l.caught)];
        Ok(LossTerms { objective, terms, players })
    }

    /// The terms on the test images (noise from `seed`); the loss is the encoder's objective.
    fn evaluate(&self, cfg: &VaeGanConfig, data: &Images, seed: u64) -> Result<Score> {
        let mut rng = SeededRng::derived(seed, "eval", 0);
        let n = data.test.dim(0)?;
        let mut sums = [0.0f64; 4];
        for s in (0..n).step_by(CHUNK) {
            let x = data.test.narrow(0, s, CHUNK.min(n - s))?;
            let shape = [x.dim(0)?, cfg.latent_dim];
            let (eps, z_p) = (rng.normal(&shape, x.device())?, rng.normal(&shape, x.device())?);
            let l = self.losses(&x, &eps, &z_p)?;
            for (sum, t) in sums.iter_mut().zip([&l.prior, &l.llike, &l.fooled, &l.caught]) {
                *sum += t.to_scalar::<f32>()? as f64 * x.dim(0)? as f64;
            }
        }
        let [prior, llike, fooled, caught] = sums.map(|v| v / n as f64);
        let terms = [("prior", prior), ("llike", llike), ("fooled", fooled), ("caught", caught)];
        Ok(Score { loss: prior + llike, terms: terms.iter().map(|(k, v)| (k.to_string(), *v)).collect() })
    }
}
