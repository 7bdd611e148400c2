//! The VQ-VAE (van den Oord, Vinyals and Kavukcuoglu 2017). The encoder writes a 7x7 grid of
//! vectors; each is replaced by the nearest entry of a learned codebook, so an image becomes 49
//! discrete codes, and the decoder reads the grid of chosen entries. The shape is the Keras
//! example's ("Vector-Quantized Variational Autoencoders", S. Paul):
//!
//! ```text
//! encoder:  1x28x28 -conv 3x3/2-> 32x14x14 -conv 3x3/2-> 64x7x7 -conv 1x1-> Dx7x7   (z_e)
//! quantize: each of the 49 vectors -> the nearest of K codebook entries  (a code in 0..K, z_q)
//! decoder:  Dx7x7 -deconv 3x3/2-> 64x14x14 -deconv 3x3/2-> 32x28x28 -deconv 3x3-> 1x28x28 logits
//! ```
//!
//! Seen as a VAE its posterior is one-hot: `q(k | x)` puts all its mass on the nearest entry, so
//! with a prior `p(k)` over the codes the KL term is `-log p(k)`, a constant `49 ln K` under the
//! uniform prior the model trains with. A prior learned afterwards over the 49 codes (a GRU
//! reading them in raster order, [`crate::models::text_vae::RnnLm`]) makes that term smaller.

use crate::cpu::conv;
use crate::data::Images;
use crate::models::vae::bernoulli_log_likelihood_fast;
use crate::prob::SeededRng;
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{D, Device, Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, VarBuilder};
use serde::{Deserialize, Serialize};

/// The side of the grid of codes (28 halved twice) and the number of codes per image.
pub const GRID: usize = 7;
pub const POSITIONS: usize = GRID * GRID;
/// Images per chunk when scoring or encoding a whole set.
const CHUNK: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VqVaeConfig {
    /// Entries in the codebook, K (the Keras example trains with 128).
    pub codes: usize,
    /// Length of each entry and of each encoder output vector, D (16).
    pub code_dim: usize,
    /// Weight of the commitment term (0.25 in the paper and in the Keras example).
    pub beta: f64,
}

impl VqVaeConfig {
    /// The Keras example's sizes.
    pub fn book() -> Self {
        Self { codes: 128, code_dim: 16, beta: 0.25 }
    }
}

// ANCHOR: model
pub struct VqVae {
    conv1: Conv2d,
    conv2: Conv2d,
    to_code: Conv2d,
    /// The codebook: K entries of length D, `(K, D)`.
    codebook: Tensor,
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
    deconv3: ConvTranspose2d,
    pub cfg: VqVaeConfig,
    device: Device,
}

/// One pass over a batch of `n` images; the grid's vectors are rows, `n * 49` of them.
pub struct VqOutput {
    /// `z_e`: the encoder's vectors, `(n * 49, D)`.
    pub z_e: Tensor,
    /// The index of the nearest entry to each, `(n * 49)`.
    pub codes: Tensor,
    /// `z_q`: those entries, `(n * 49, D)`.
    pub z_q: Tensor,
    /// The decoder's pixel logits, `(n, 784)`.
    pub logits: Tensor,
}

impl VqVae {
    pub fn new(cfg: VqVaeConfig, vb: VarBuilder) -> Result<Self> {
        let down = Conv2dConfig { padding: 1, stride: 2, ..Default::default() };
        let up = ConvTranspose2dConfig { padding: 1, output_padding: 1, stride: 2, ..Default::default() };
        let same = ConvTranspose2dConfig { padding: 1, ..Default::default() };
        let (enc, dec) = (vb.pp("encoder"), vb.pp("decoder"));
        Ok(Self {
            conv1: candle_nn::conv2d(1, 32, 3, down, enc.pp("conv1"))?,
            conv2: candle_nn::conv2d(32, 64, 3, down, enc.pp("conv2"))?,
            to_code: candle_nn::conv2d(64, cfg.code_dim, 1, Default::default(), enc.pp("to_code"))?,
            // named like a layer's weight, so it starts uniform in +-1/sqrt(D) like the others
            codebook: vb.get((cfg.codes, cfg.code_dim), "codebook.weight")?,
            deconv1: candle_nn::conv_transpose2d(cfg.code_dim, 64, 3, up, dec.pp("deconv1"))?,
            deconv2: candle_nn::conv_transpose2d(64, 32, 3, up, dec.pp("deconv2"))?,
            deconv3: candle_nn::conv_transpose2d(32, 1, 3, same, dec.pp("deconv3"))?,
            cfg,
            device: vb.device().clone(),
        })
    }

    /// `z_e` for images `x` (`(n, 784)`): one row of length D per grid position, `(n * 49, D)`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let h = self.conv1.forward(&x.reshape((n, 1, 28, 28))?)?.relu()?; // (n, 32, 14, 14)
        let h = self.conv2.forward(&h)?.relu()?; // (n, 64, 7, 7)
        rows_of_grid(&self.to_code.forward(&h)?) // (n, D, 7, 7) -> (n * 49, D)
    }

    /// The index of the nearest codebook entry to each row of `z_e`, `(rows)`.
    pub fn nearest(&self, z_e: &Tensor) -> Result<Tensor> {
        // |z - e|^2 = |z|^2 - 2 z.e + |e|^2, and |z|^2 is the same for every entry
        let cross = z_e.matmul(&self.codebook.t()?)?; // (rows, K)
        let norms = self.codebook.sqr()?.sum(1)?; // (K)
        cross.affine(-2.0, 0.0)?.broadcast_add(&norms)?.argmin(D::Minus1)
    }

    /// The codebook, `(K, D)`.
    pub fn codebook(&self) -> &Tensor {
        &self.codebook
    }

    /// The codebook entries of `codes`, `(rows, D)`.
    pub fn entries(&self, codes: &Tensor) -> Result<Tensor> {
        self.codebook.index_select(codes, 0)
    }

    /// Pixel logits `(n, 784)` from a grid of entries given as rows, `(n * 49, D)`.
    pub fn decode(&self, z_q: &Tensor) -> Result<Tensor> {
        let n = z_q.dim(0)? / POSITIONS;
        let h = self.deconv1.forward(&grid_of_rows(z_q, n)?)?.relu()?; // (n, 64, 14, 14)
        let h = self.deconv2.forward(&h)?.relu()?; // (n, 32, 28, 28)
        self.deconv3.forward(&h)?.reshape((n, 784))
    }

    pub fn forward(&self, x: &Tensor) -> Result<VqOutput> {
        let z_e = self.encode(x)?;
        let codes = self.nearest(&z_e.detach())?;
        let z_q = self.entries(&codes)?;
        // The straight-through estimator: the decoder reads z_q, but its gradient is passed to
        // z_e unchanged (z_e + (z_q - z_e) has the value z_q and the derivative of z_e).
        let logits = self.decode(&(&z_e + (&z_q - &z_e)?.detach())?)?;
        Ok(VqOutput { z_e, codes, z_q, logits })
    }
}

/// `(n, D, 7, 7)` -> `(n * 49, D)`: row `i * 49 + 7 r + c` is image `i`'s vector at row `r`, column `c`.
fn rows_of_grid(h: &Tensor) -> Result<Tensor> {
    let (n, d, _, _) = h.dims4()?;
    h.permute((0, 2, 3, 1))?.reshape((n * POSITIONS, d))
}

/// The inverse of [`rows_of_grid`] for `n` images.
fn grid_of_rows(rows: &Tensor, n: usize) -> Result<Tensor> {
    let d = rows.dim(1)?;
    rows.reshape((n, GRID, GRID, d))?.permute((0, 3, 1, 2))?.contiguous()
}
// ANCHOR_END: model

// ANCHOR: loss
/// The VQ-VAE's objective per image (van den Oord et al.'s equation 3, with `sg` = `detach`):
/// `-log p(x | z_q) + |sg[z_e] - z_q|^2 + beta |z_e - sg[z_q]|^2`, squares summed over the grid.
/// The decoder learns from the first term, the codebook from the second (each entry moves towards
/// the vectors that chose it), the encoder from the first and the third (it commits to its entries).
pub fn loss(x: &Tensor, out: &VqOutput, beta: f64) -> Result<LossTerms> {
    let n = x.dim(0)? as f64;
    let recon = bernoulli_log_likelihood_fast(x, &out.logits)?.neg()?.mean_all()?;
    let codebook = (out.z_e.detach() - &out.z_q)?.sqr()?.sum_all()?.affine(1.0 / n, 0.0)?;
    let commitment = (&out.z_e - out.z_q.detach())?.sqr()?.sum_all()?.affine(1.0 / n, 0.0)?;
    let objective = ((&recon + &codebook)? + commitment.affine(beta, 0.0)?)?;
    Ok(LossTerms::new(objective, vec![("recon", recon), ("codebook", codebook), ("commitment", commitment)]))
}
// ANCHOR_END: loss

impl VqVae {
    /// [`VqVae::forward`] through the fast CPU convolutions of [`crate::cpu::conv`] (tested
    /// equal); other devices take the plain path.
    pub fn forward_fast(&self, x: &Tensor) -> Result<VqOutput> {
        if !self.device.is_cpu() {
            return self.forward(x);
        }
        let n = x.dim(0)?;
        let h = conv::conv2d_relu(&self.conv1, &x.reshape((n, 1, 28, 28))?, false)?;
        let h = conv::conv2d_relu(&self.conv2, &h, true)?;
        let z_e = rows_of_grid(&conv::conv2d(&self.to_code, &h, true)?)?;
        let codes = self.nearest(&z_e.detach())?;
        let z_q = self.entries(&codes)?;
        let h = grid_of_rows(&(&z_e + (&z_q - &z_e)?.detach())?, n)?;
        let h = conv::conv_transpose2d_relu(&self.deconv1, &h)?;
        let h = conv::conv_transpose2d_relu(&self.deconv2, &h)?;
        let logits = conv::conv_transpose2d(&self.deconv3, &h)?.reshape((n, 784))?;
        Ok(VqOutput { z_e, codes, z_q, logits })
    }

    /// The 49 codes of every image of `x`, one `Vec` per image, in raster order.
    pub fn codes_of(&self, x: &Tensor) -> Result<Vec<Vec<u32>>> {
        let mut out = Vec::with_capacity(x.dim(0)?);
        for s in (0..x.dim(0)?).step_by(CHUNK) {
            let xb = x.narrow(0, s, CHUNK.min(x.dim(0)? - s))?;
            let codes = self.nearest(&self.encode(&xb)?)?.to_vec1::<u32>()?;
            out.extend(codes.chunks(POSITIONS).map(<[u32]>::to_vec));
        }
        Ok(out)
    }

    /// Pixel probabilities `(n, 784)` of the images whose codes are `codes` (49 per image).
    pub fn decode_codes(&self, codes: &[Vec<u32>]) -> Result<Tensor> {
        let flat: Vec<u32> = codes.concat();
        let ids = Tensor::from_vec(flat, codes.len() * POSITIONS, &self.device)?;
        candle_nn::ops::sigmoid(&self.decode(&self.entries(&ids)?)?)
    }
}

/// Test scores of a trained VQ-VAE, per image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VqScore {
    /// `-log p(x | z_q)`, nats.
    pub recon: f64,
    /// `|z_e - z_q|^2` summed over the grid (the codebook and commitment terms before weighting).
    pub quantization: f64,
    /// Mean squared error of the pixel probabilities, per pixel.
    pub mse: f64,
}

/// [`VqScore`] over `x`, in chunks.
pub fn score(model: &VqVae, x: &Tensor) -> Result<VqScore> {
    let n = x.dim(0)?;
    let (mut recon, mut quantization, mut sq) = (0.0, 0.0, 0.0);
    for s in (0..n).step_by(CHUNK) {
        let xb = x.narrow(0, s, CHUNK.min(n - s))?;
        let out = model.forward_fast(&xb)?;
        let w = xb.dim(0)? as f64;
        let terms = loss(&xb, &out, model.cfg.beta)?.terms;
        recon += terms[0].1.to_scalar::<f32>()? as f64 * w;
        quantization += terms[1].1.to_scalar::<f32>()? as f64 * w;
        let p = candle_nn::ops::sigmoid(&out.logits)?;
        sq += (p - &xb)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    Ok(VqScore { recon: recon / n as f64, quantization: quantization / n as f64, mse: sq / (n * 784) as f64 })
}

/// The code cost under the uniform prior the model trains with: `49 ln K` nats per image.
pub fn uniform_code_cost(cfg: &VqVaeConfig) -> f64 {
    POSITIONS as f64 * (cfg.codes as f64).ln()
}

impl Model for VqVae {
    type Config = VqVaeConfig;
    type Data = Images;
    const NAME: &'static str = "vqvae";

    fn new(cfg: &VqVaeConfig, vb: VarBuilder) -> Result<Self> {
        VqVae::new(*cfg, vb)
    }

    fn rows(data: &Images) -> usize {
        data.train_labels.len()
    }

    fn loss(&self, cfg: &VqVaeConfig, data: &Images, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let x = data.batch(at.rows)?;
        loss(&x, &self.forward_fast(&x)?, cfg.beta)
    }

    /// The test negative ELBO under the uniform prior (reconstruction + 49 ln K), and its parts.
    fn evaluate(&self, cfg: &VqVaeConfig, data: &Images, _seed: u64) -> Result<Score> {
        let s = score(self, &data.test)?;
        let code = uniform_code_cost(cfg);
        let terms = vec![("recon".into(), s.recon), ("code".into(), code), ("quantization".into(), s.quantization)];
        Ok(Score { loss: s.recon + code, terms })
    }
}

/// The simplest learned prior: each of the 49 positions has its own distribution over the K
/// codes, counted on training codes (plus one, so no code has probability zero), independent of
/// the other positions.
#[derive(Debug, Clone)]
pub struct PositionPrior {
    /// `log p(code k at position j)` at `[j * K + k]`.
    log_p: Vec<f64>,
    codes: usize,
}

impl PositionPrior {
    pub fn fit(images: &[Vec<u32>], codes: usize) -> Self {
        let mut counts = vec![1.0f64; POSITIONS * codes];
        for image in images {
            for (j, &k) in image.iter().enumerate() {
                counts[j * codes + k as usize] += 1.0;
            }
        }
        let total = (images.len() + codes) as f64;
        Self { log_p: counts.iter().map(|c| (c / total).ln()).collect(), codes }
    }

    /// `-log p(codes)` of one image's 49 codes, nats.
    pub fn cost(&self, image: &[u32]) -> f64 {
        -image.iter().enumerate().map(|(j, &k)| self.log_p[j * self.codes + k as usize]).sum::<f64>()
    }

    /// One image's 49 codes drawn position by position.
    pub fn sample(&self, rng: &mut SeededRng) -> Vec<u32> {
        (0..POSITIONS)
            .map(|j| {
                let u = rng.uniform_f64();
                let row = &self.log_p[j * self.codes..(j + 1) * self.codes];
                let mut acc = 0.0;
                row.iter()
                    .position(|lp| {
                        acc += lp.exp();
                        u < acc
                    })
                    .unwrap_or(self.codes - 1) as u32
            })
            .collect()
    }
}

/// How much of the codebook a set of codes uses: the entries used at least once, and the
/// perplexity `exp(H)` of the usage frequencies (K if every entry is used equally, 1 if one is).
pub fn codebook_usage(images: &[Vec<u32>], codes: usize) -> (usize, f64) {
    let mut counts = vec![0usize; codes];
    images.iter().flatten().for_each(|&k| counts[k as usize] += 1);
    let n = counts.iter().sum::<usize>().max(1) as f64;
    let entropy: f64 = counts.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum();
    (counts.iter().filter(|&&c| c > 0).count(), entropy.exp())
}
