//! The amortization gap (Cremer, Li & Duvenaud 2018): how much ELBO a VAE loses because one encoder
//! predicts `q(z|x)` for every image, instead of optimizing a separate `q` for each.
//!
//! For a trained model and a set of images, start each image's `q = N(mu, diag(exp(logvar)))` at the
//! encoder's output, then run Adam on `(mu, logvar)` of every image, the decoder frozen. The
//! difference between the two ELBOs, estimated with the same noise, is the gap.

use crate::models::vae::Vae;
use crate::optim::Adam;
use crate::prob::{self, SeededRng};
use candle_core::{Result, Tensor, Var};

/// Per-image ELBOs of the encoder's `q` and of the per-image optimized `q`, averaged over images.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AmortizationGap {
    pub images: usize,
    pub steps: usize,
    /// Samples per image used to estimate each final ELBO.
    pub eval_samples: usize,
    pub encoder_elbo: f64,
    pub optimized_elbo: f64,
    /// The standard error of the difference, over images.
    pub gap_se: f64,
}

impl AmortizationGap {
    pub fn gap(&self) -> f64 {
        self.optimized_elbo - self.encoder_elbo
    }
}

// ANCHOR: elbo
/// The per-image ELBO `E_q[log p(x|z)] - KL(q || N(0, I))` of `q = N(mu, exp(logvar))`, estimated
/// with `samples` draws per image: shape `(images,)`.
pub fn elbo_per_image(
    model: &Vae,
    x: &Tensor,
    mu: &Tensor,
    logvar: &Tensor,
    samples: usize,
    rng: &mut SeededRng,
) -> Result<Tensor> {
    let (n, d) = mu.dims2()?;
    let eps = rng.normal(&[samples, n, d], x.device())?;
    let z = prob::reparameterize(
        &mu.unsqueeze(0)?.broadcast_as((samples, n, d))?,
        &logvar.unsqueeze(0)?.broadcast_as((samples, n, d))?,
        &eps,
    )?;
    let logits = model.decode(&z.reshape((samples * n, d))?)?;
    let xs = x.unsqueeze(0)?.broadcast_as((samples, n, x.dim(1)?))?.reshape((samples * n, x.dim(1)?))?;
    let log_lik = prob::bernoulli_log_likelihood_logits(&xs, &logits)?.reshape((samples, n))?.mean(0)?;
    log_lik - prob::kl_standard_normal(mu, logvar)?
}
// ANCHOR_END: elbo

/// Measures the gap on the images `x`: `steps` Adam steps (learning rate `lr`, `train_samples`
/// draws per image per step) on every image's own `q`, then both ELBOs with `eval_samples` draws.
pub fn amortization_gap(
    model: &Vae,
    x: &Tensor,
    steps: usize,
    train_samples: usize,
    eval_samples: usize,
    lr: f64,
    seed: u64,
) -> Result<AmortizationGap> {
    let (mu0, logvar0) = model.encode(x)?;
    let (mu0, logvar0) = (mu0.detach(), logvar0.detach());
    let mu = Var::from_tensor(&mu0)?;
    let logvar = Var::from_tensor(&logvar0)?;
    // Only q's parameters are in the optimizer: the decoder stays as trained.
    let mut opt = Adam::new(vec![("mu".into(), mu.clone()), ("logvar".into(), logvar.clone())], lr)?;
    let mut rng = SeededRng::derived(seed, "amortization", 0);
    for _ in 0..steps {
        let elbo = elbo_per_image(model, x, mu.as_tensor(), logvar.as_tensor(), train_samples, &mut rng)?;
        // The images are independent: the sum's gradient is each image's own gradient.
        opt.step(&elbo.sum_all()?.neg()?.backward()?)?;
    }
    // Both ELBOs with the same noise, so that the difference is not blurred by it.
    let eval = |m: &Tensor, lv: &Tensor| -> Result<Vec<f32>> {
        let mut rng = SeededRng::derived(seed, "amortization-eval", 0);
        elbo_per_image(model, x, m, lv, eval_samples, &mut rng)?.to_vec1::<f32>()
    };
    let before = eval(&mu0, &logvar0)?;
    let after = eval(&mu.as_tensor().detach(), &logvar.as_tensor().detach())?;
    let diffs: Vec<f64> = after.iter().zip(&before).map(|(a, b)| (*a - *b) as f64).collect();
    let (_, gap_se) = crate::classic::vi::mean_and_se(&diffs);
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    Ok(AmortizationGap {
        images: before.len(),
        steps,
        eval_samples,
        encoder_elbo: mean(&before),
        optimized_elbo: mean(&after),
        gap_se,
    })
}
