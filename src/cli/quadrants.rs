//! Completing digits from one to three quadrants on the command line (Sohn et al., as in Pyro's
//! CVAE tutorial): first the baseline network, then the CVAE, whose prior network reads the frozen
//! baseline's guess (`--baseline`, the baseline run's checkpoint).

use super::images::load_mnist;
use super::{CliModel, DataSpec, ModelInfo, TrainArgs};
use crate::models::quadrant::{self, Baseline, BaselineData, CvaeData, QuadrantConfig, QuadrantCvae, Task};
use crate::train::{Run, RunConfig};
use anyhow::{Context, Result, bail};
use candle_core::Device;
use candle_core::Module;

/// The chapter's schedule: at most 30 epochs, patience 3, batch 128, Adam at 1e-3.
const QUADRANT_RUN: RunConfig = RunConfig { epochs: 30, batch_size: 128, lr: 1e-3, seed: 42, patience: Some(3) };
/// The last ninth of the training digits (1,000 of the embedded 9,000) is held out for early stopping.
const VALID_SHARE: usize = 9;
/// Quadrants shown when `--quadrants` is not given.
const DEFAULT_QUADRANTS: usize = 2;
/// Draws in the negative ELBO (Pyro's `num_particles`).
const PARTICLES: usize = 10;

fn apply_sizes(args: &TrainArgs, cfg: QuadrantConfig) -> Result<QuadrantConfig> {
    let (latent_dim, hidden) = super::sizes(args, (cfg.latent_dim, cfg.hidden))?;
    Ok(QuadrantConfig { latent_dim, hidden, ..cfg })
}

/// Training, validation and test tasks for the quadrants `spec` names.
fn tasks(spec: &DataSpec, dev: &Device) -> Result<(Task, Task, Task)> {
    let q = spec.quadrants.unwrap_or(DEFAULT_QUADRANTS);
    let data = load_mnist(spec)?;
    let all = data.train.images(dev)?;
    let n = all.dim(0)?;
    let valid = n / VALID_SHARE;
    if valid == 0 {
        bail!("{n} training images leave none for validation: use at least {VALID_SHARE}");
    }
    let task = |x| Task::new(x, q).context("--quadrants");
    Ok((task(&all.narrow(0, 0, n - valid)?)?, task(&all.narrow(0, n - valid, valid)?)?, task(&data.test.images(dev)?)?))
}

fn describe_tasks(task: &Task, valid: &Task, test: Option<&Task>) -> String {
    let size = |t: &Task| t.images.dims()[0];
    // A quadrant is a quarter of the pixels.
    let shown = task.observed.sum_all().and_then(|s| s.to_scalar::<f32>()).unwrap_or(0.0);
    let quadrants = (4.0 * shown / task.images.dims()[1].max(1) as f32).round();
    format!(
        "{} training, {} validation, {} test digits, {} quadrant(s) shown",
        size(task),
        size(valid),
        test.map_or(0, size),
        quadrants
    )
}

impl CliModel for Baseline {
    fn info() -> &'static ModelInfo {
        &super::QUADRANT_BASELINE
    }

    fn defaults(_data: &str) -> (QuadrantConfig, RunConfig) {
        (QuadrantConfig::default(), QUADRANT_RUN)
    }

    fn apply(args: &TrainArgs, cfg: QuadrantConfig) -> Result<QuadrantConfig> {
        apply_sizes(args, cfg)
    }

    fn complete_spec(spec: DataSpec) -> DataSpec {
        DataSpec { quadrants: spec.quadrants.or(Some(DEFAULT_QUADRANTS)), ..spec }
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<BaselineData> {
        let (task, valid, test) = tasks(spec, dev)?;
        Ok(BaselineData { task, valid, test: Some(test) })
    }

    fn fit_to_data(cfg: QuadrantConfig, data: &BaselineData) -> Result<QuadrantConfig> {
        Ok(QuadrantConfig { pixels: data.task.images.dims()[1], ..cfg })
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &BaselineData) -> String {
        describe_tasks(&data.task, &data.valid, data.test.as_ref())
    }

    fn eval(run: &Run<Self>, data: &BaselineData, _k: usize) -> Result<Vec<(String, f64)>> {
        let test = data.test.as_ref().context("no test task loaded")?;
        let nll = quadrant::masked_nll(&test.images, &run.model.forward(&test.input)?, &test.missing)?;
        Ok(vec![
            (
                "test -log p(y | x) of the missing pixels (exact)".to_string(),
                f64::from(nll.mean_all()?.to_scalar::<f32>()?),
            ),
            (
                "  entropy floor of the grey levels".to_string(),
                f64::from(test.entropy_floor()?.mean_all()?.to_scalar::<f32>()?),
            ),
        ])
    }
}

impl CliModel for QuadrantCvae {
    fn info() -> &'static ModelInfo {
        &super::QUADRANT
    }

    fn defaults(_data: &str) -> (QuadrantConfig, RunConfig) {
        (QuadrantConfig::default(), QUADRANT_RUN)
    }

    fn apply(args: &TrainArgs, cfg: QuadrantConfig) -> Result<QuadrantConfig> {
        apply_sizes(args, cfg)
    }

    fn complete_spec(spec: DataSpec) -> DataSpec {
        <Baseline as CliModel>::complete_spec(spec)
    }

    /// The tasks with the trained baseline's guesses.
    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<CvaeData> {
        let Some(path) = &spec.baseline else {
            bail!(
                "--model quadrant needs a trained baseline: run `vae train --model quadrant-baseline --quadrants {q} \
                 --out runs/quadrant-baseline`, then pass --baseline runs/quadrant-baseline/checkpoint.safetensors",
                q = spec.quadrants.unwrap_or(DEFAULT_QUADRANTS)
            );
        };
        let ckpt = crate::checkpoint::load(path, &Device::Cpu)?;
        let saved: DataSpec = ckpt.meta_json("data")?;
        if saved.quadrants != spec.quadrants || saved.dir != spec.dir || saved.train_size != spec.train_size {
            bail!("the baseline {} was trained on other data: {saved:?}", path.display());
        }
        let baseline = Run::<Baseline>::load(path, dev)?.model;
        let (task, valid, test) = tasks(spec, dev)?;
        let mut data = CvaeData::new(&baseline, &task, &valid)?;
        data.test = Some(test);
        data.baseline = Some(baseline);
        Ok(data)
    }

    fn fit_to_data(cfg: QuadrantConfig, data: &CvaeData) -> Result<QuadrantConfig> {
        Ok(QuadrantConfig { pixels: data.task.images.dims()[1], ..cfg })
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &CvaeData) -> String {
        describe_tasks(&data.task, &data.valid, data.test.as_ref())
    }

    fn eval(run: &Run<Self>, data: &CvaeData, k: usize) -> Result<Vec<(String, f64)>> {
        let (test, baseline) =
            (data.test.as_ref().context("no test task")?, data.baseline.as_ref().context("no baseline")?);
        let s = quadrant::evaluate(baseline, &run.model, test, PARTICLES, k, run.run.seed)?;
        Ok(vec![
            ("test -log p(y | x), baseline (exact)".to_string(), s.baseline),
            (format!("test -ELBO of the CVAE ({PARTICLES} draws)"), s.cvae_elbo),
            (format!("test -log p(y | x), CVAE, importance sampled, k = {k}"), s.cvae_importance),
            (format!("test -log p(y | x), CVAE, prior Monte Carlo, k = {k}"), s.cvae_prior_mc),
            ("  entropy floor of the grey levels".to_string(), s.floor),
        ])
    }
}
