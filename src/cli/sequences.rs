//! The sequence models on the command line: the VRNN and its GRU baseline, on Bach chorales (one
//! step per beat) or on MNIST digits read row by row, each with early stopping on validation.

use super::{CliModel, DataSpec, ModelInfo, TrainArgs};
use crate::data::Mnist;
use crate::data::chorales::{ChoraleSplit, Chorales};
use crate::data::sequences::{SeqData, SeqSplits};
use crate::models::vrnn::{self, RnnBaseline, Vrnn, VrnnConfig};
use crate::report::sequences::{digit_rows, rolls_of};
use crate::train::{Model, Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;

/// Piano keys of the embedded chorales, pixels per MNIST row, and the training digits held out
/// for validation (as the sequences chapter).
const ROW_PIXELS: usize = 28;
const ROW_VALID: usize = 1000;
/// Trajectories per importance-sampling chunk.
const IMPORTANCE_CHUNK: usize = 10;

/// The chapter's model and run for `data`.
fn book_defaults(data: &str) -> (VrnnConfig, RunConfig) {
    let model = VrnnConfig { input_dim: 0, feature: 64, hidden: 128, latent_dim: 16 };
    let run = if data == "mnist-rows" {
        RunConfig { epochs: 10, batch_size: 250, lr: 3e-3, seed: 42, patience: Some(3) }
    } else {
        RunConfig { epochs: 60, batch_size: 8, lr: 2e-3, seed: 42, patience: Some(5) }
    };
    (model, run)
}

fn apply_sizes(args: &TrainArgs, cfg: VrnnConfig) -> Result<VrnnConfig> {
    let (latent_dim, hidden) = super::sizes(args, (cfg.latent_dim, cfg.hidden))?;
    Ok(VrnnConfig { latent_dim, hidden, ..cfg })
}

/// Training, validation and test sequences of `spec`, in length buckets of `run.batch_size`.
fn load_sequences(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<(SeqSplits, usize)> {
    let b = run.batch_size;
    let (splits, dim) = match spec.name.as_str() {
        "chorales" => {
            let c = Chorales::embedded()?;
            let [train, valid, test] =
                [ChoraleSplit::Train, ChoraleSplit::Valid, ChoraleSplit::Test].map(|s| rolls_of(&c, s));
            let keys = c.keys();
            let data = |r: &[Vec<f32>]| SeqData::new(r, keys, b, dev);
            (SeqSplits { train: data(&train)?, valid: data(&valid)?, test: Some(data(&test)?) }, keys)
        }
        "mnist-rows" => {
            let mnist = Mnist::embedded()?;
            let all = digit_rows(&mnist.train.pixels, run.seed, "row-binarization")?;
            let test = digit_rows(&mnist.test.pixels, run.seed, "test-binarization")?;
            let n_train = all.len() - ROW_VALID;
            let data = |r: &[Vec<f32>]| SeqData::new(r, ROW_PIXELS, b, dev);
            let splits =
                SeqSplits { train: data(&all[..n_train])?, valid: data(&all[n_train..])?, test: Some(data(&test)?) };
            (splits, ROW_PIXELS)
        }
        other => bail!("sequence models train on --data chorales or mnist-rows, not {other:?}"),
    };
    Ok((splits, dim))
}

fn describe_sequences(data: &SeqSplits) -> String {
    let count = |d: &SeqData| d.batches.iter().map(|b| b.lengths.len()).sum::<usize>();
    let test = data.test.as_ref().map_or(0, count);
    format!("{} training, {} validation, {test} test sequences", count(&data.train), count(&data.valid))
}

fn test_split(data: &SeqSplits) -> Result<&SeqData> {
    data.test.as_ref().ok_or_else(|| anyhow::anyhow!("no test split loaded"))
}

impl CliModel for Vrnn {
    fn info() -> &'static ModelInfo {
        &super::VRNN
    }

    fn defaults(data: &str) -> (VrnnConfig, RunConfig) {
        book_defaults(data)
    }

    fn apply(args: &TrainArgs, cfg: VrnnConfig) -> Result<VrnnConfig> {
        apply_sizes(args, cfg)
    }

    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<SeqSplits> {
        Ok(load_sequences(spec, run, dev)?.0)
    }

    fn fit_to_data(cfg: VrnnConfig, data: &SeqSplits) -> Result<VrnnConfig> {
        let dim = data.train.batches.first().map(|b| b.x.dims()[2]).unwrap_or(0);
        Ok(VrnnConfig { input_dim: dim, ..cfg })
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &SeqSplits) -> String {
        describe_sequences(data)
    }

    fn eval(run: &Run<Self>, data: &SeqSplits, k: usize) -> Result<Vec<(String, f64)>> {
        let (test, seed) = (test_split(data)?, run.run.seed);
        let (recon, kl) = vrnn::vrnn_elbo(&run.model, test, seed)?;
        let nll = vrnn::vrnn_importance_nll(&run.model, test, k, IMPORTANCE_CHUNK, seed)?;
        Ok(vec![
            ("test -ELBO per step".to_string(), recon + kl),
            ("  recon".to_string(), recon),
            ("  kl".to_string(), kl),
            (format!("test -log p(x) per step, importance sampled, k = {k}"), nll),
        ])
    }
}

impl CliModel for RnnBaseline {
    fn info() -> &'static ModelInfo {
        &super::RNN
    }

    fn defaults(data: &str) -> (VrnnConfig, RunConfig) {
        book_defaults(data)
    }

    fn apply(args: &TrainArgs, cfg: VrnnConfig) -> Result<VrnnConfig> {
        apply_sizes(args, cfg)
    }

    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<SeqSplits> {
        Ok(load_sequences(spec, run, dev)?.0)
    }

    fn fit_to_data(cfg: VrnnConfig, data: &SeqSplits) -> Result<VrnnConfig> {
        <Vrnn as CliModel>::fit_to_data(cfg, data)
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &SeqSplits) -> String {
        describe_sequences(data)
    }

    fn eval(run: &Run<Self>, data: &SeqSplits, _k: usize) -> Result<Vec<(String, f64)>> {
        let nll = vrnn::baseline_nll(&run.model, test_split(data)?)?;
        let valid = run.model.evaluate(&run.cfg, data, run.run.seed)?.loss;
        Ok(vec![
            ("validation -log p(x) per step (exact)".to_string(), valid),
            ("test -log p(x) per step (exact)".to_string(), nll),
        ])
    }
}
