//! The VAE of heartbeats on the command line: trained on the narrow beats of the first 144 s of the
//! embedded electrocardiogram, stopped early on the narrow beats of the next 36 s, and `vae eval`
//! says how well its scores separate the wide beats of the last two minutes from the narrow ones.

use super::{CliModel, DataSpec, ModelInfo, TrainArgs};
use crate::classic::anomaly;
use crate::data::ecg::{self, BeatConfig, EcgSet, Role};
use crate::models::ecg_vae::{BOOK_RUN, ELBO_SAMPLES, EcgConfig, EcgVae};
use crate::models::vae::VaeConfig;
use crate::plot;
use crate::prob::SeededRng;
use crate::train::{Model, Run, RunConfig};
use anyhow::Result;
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

/// Beats drawn by `vae sample`.
const SAMPLED: usize = 8;
/// Test beats shown by the reconstructions figure, of each label.
const SHOWN: usize = 3;

impl CliModel for EcgVae {
    fn info() -> &'static ModelInfo {
        &super::ECG
    }

    fn defaults(_data: &str) -> (EcgConfig, RunConfig) {
        (EcgConfig::default(), BOOK_RUN)
    }

    fn apply(args: &TrainArgs, cfg: EcgConfig) -> Result<EcgConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.model.latent_dim, cfg.model.hidden))?;
        Ok(EcgConfig { model: VaeConfig { latent_dim, hidden, ..cfg.model }, ..cfg })
    }

    fn load_data(_spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<EcgSet> {
        EcgSet::embedded(BeatConfig::default(), dev)
    }

    fn fit_to_data(cfg: EcgConfig, data: &EcgSet) -> Result<EcgConfig> {
        Ok(EcgConfig { model: VaeConfig { input_dim: data.cfg.window(), ..cfg.model }, ..cfg })
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &EcgSet) -> String {
        let (train, validation, (test, wide)) =
            (data.count(Role::Train).0, data.count(Role::Validation).0, data.count(Role::Test));
        format!(
            "MIT-BIH record 208 (5 min at {} Hz, {}): {train} training and {validation} validation beats \
             (narrow, before {} s), {test} test beats after it ({wide} wide), {} samples per beat",
            ecg::RATE,
            ecg::EMBEDDED_PATH,
            data.cfg.split_at,
            data.cfg.window()
        )
    }

    fn figures(run: &Run<Self>, data: &EcgSet, dir: &Path) -> Result<Vec<PathBuf>> {
        let (recon, samples) = (dir.join("reconstructions.png"), dir.join("samples.png"));
        Self::reconstruct(run, data, SHOWN, &recon)?;
        Self::sample(run, data, run.run.seed, &samples)?;
        Ok(vec![recon, samples])
    }

    /// The validation score, the fitted sigma, and the area under the ROC curve of the wide test
    /// beats against the narrow ones for both scores.
    fn eval(run: &Run<Self>, data: &EcgSet, k: usize) -> Result<Vec<(String, f64)>> {
        let score = run.model.evaluate(&run.cfg, data, run.run.seed)?;
        let mut out = vec![("validation -ELBO, nats per beat".to_string(), score.loss)];
        out.extend(score.terms.into_iter().map(|(n, v)| (format!("  {n}"), v)));
        let log_sigma = run.model.fitted_log_sigma(data, run.run.seed)?;
        let elbo = run.model.negative_elbo(&data.test, log_sigma, ELBO_SAMPLES, run.run.seed)?;
        out.push(("test AUC of -ELBO, wide beats against narrow".into(), anomaly::auc(&elbo, &data.test_wide)));
        if !run.cfg.autoencoder {
            let nll = run.model.importance_nll(&data.test, log_sigma, k, run.run.seed)?;
            out.push((
                format!("test AUC of -log p(x), importance sampled with k = {k}"),
                anomaly::auc(&nll, &data.test_wide),
            ));
        }
        Ok(out)
    }

    /// Beats drawn from the prior, decoded to the decoder's mean.
    fn sample(run: &Run<Self>, data: &EcgSet, seed: u64, out: &Path) -> Result<String> {
        let z = SeededRng::derived(seed, "ecg-sample", 0).normal(&[SAMPLED, run.cfg.model.latent_dim], &Device::Cpu)?;
        let beats = data.cfg.traces(&run.model.decode_means(&z.to_device(run.model.vae.device())?)?)?;
        let title = "Beats decoded from codes drawn from the prior";
        plot::traces(&[("decoder means", &beats)], false, title, ("seconds from the R peak", "mV"), out)?;
        Ok(format!("figure: {}", out.display()))
    }

    /// The first narrow and wide test beats, side by side, under their reconstructions.
    fn reconstruct(run: &Run<Self>, data: &EcgSet, n: usize, out: &Path) -> Result<()> {
        let pick = |wide: bool| data.test_wide.iter().enumerate().filter(move |(_, w)| **w == wide).map(|(i, _)| i);
        let rows: Vec<u32> = pick(false).take(n).chain(pick(true).take(n)).map(|i| i as u32).collect();
        let x = data.test.index_select(&Tensor::from_slice(&rows, rows.len(), data.test.device())?, 0)?;
        let (mu, _) = run.model.vae.encode(&x)?;
        let recon = run.model.decode_means(&mu)?;
        let (beats, recon) =
            (side_by_side(&data.cfg.traces(&x)?, &data.cfg), side_by_side(&data.cfg.traces(&recon)?, &data.cfg));
        let title = format!("{n} narrow, then {n} wide test beats, reconstructed");
        plot::traces(&[("beat", &beats), ("reconstruction", &recon)], false, &title, ("seconds", "mV"), out)?;
        Ok(())
    }
}

/// Traces moved right by one window each, so that they sit side by side.
fn side_by_side(traces: &[Vec<(f32, f32)>], cfg: &BeatConfig) -> Vec<Vec<(f32, f32)>> {
    let step = (cfg.before + cfg.after) as f32;
    traces.iter().enumerate().map(|(i, t)| t.iter().map(|&(x, y)| (x + step * i as f32, y)).collect()).collect()
}
