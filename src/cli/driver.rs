//! One driver for every [`CliModel`]: start or resume a run, train it epoch by epoch with a
//! progress bar, an atomic checkpoint and `metrics.json` after every epoch; evaluate, sample from
//! and reconstruct with a saved model.

use super::{CliModel, DataSpec, TrainArgs, device};
use crate::checkpoint;
use crate::train::{EpochRecord, Run, RunConfig};
use anyhow::{Context, Result, bail};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::Path;

/// The contents of a run's `metrics.json`: one schema for every model.
#[derive(Serialize)]
struct RunMetrics<'a, C: Serialize> {
    model: &'a str,
    seed: u64,
    model_config: &'a C,
    run_config: RunConfig,
    data: &'a DataSpec,
    /// Which split `eval` in each epoch scores: `test`, or `validation` for models that keep the
    /// test split for `vae eval`.
    eval_set: &'a str,
    /// The epoch with the lowest held-out loss (the weights `vae eval` uses with early stopping).
    best_epoch: usize,
    epochs: &'a [EpochRecord],
}

/// `vae train --model M`: a fresh run, or `--resume` of the one in `--out`.
pub fn train_model<M: CliModel>(args: &TrainArgs) -> Result<()> {
    let info = M::info();
    args.check_for(info)?;
    if args.patience.is_some_and(|p| p > 0) && M::eval_set() == "test" {
        bail!(
            "--model {} scores the test set after every epoch; early stopping on it would choose the \
             weights by their test score, so it does not take --patience",
            info.name
        );
    }
    let dev = device(&args.device)?;
    let out = args.out_dir()?;
    let ckpt_path = out.join("checkpoint.safetensors");
    let (mut run, spec, data) =
        if args.resume { resume::<M>(args, &ckpt_path, &dev)? } else { start::<M>(args, &ckpt_path, &dev)? };
    let source = spec.dir.as_ref().map_or(spec.name.clone(), |dir| dir.display().to_string());
    println!(
        "seed {} | model {} | data: {source}, {} | batch {} | lr {} | device {:?}",
        run.run.seed,
        info.name,
        M::describe(&data),
        run.run.batch_size,
        run.run.lr,
        dev
    );
    if run.finished() {
        let why = if run.history.len() >= run.run.epochs { "all epochs are done" } else { "it stopped early" };
        println!("nothing to train: {why} after epoch {}; pass a larger --epochs to go on", run.history.len());
    }
    let extra = [("data", serde_json::to_string(&spec)?)];
    while !run.finished() {
        let record = epoch_with_progress(&mut run, &data)?;
        println!("{}", epoch_line(&record, run.run.epochs, M::eval_set()));
        run.save(&ckpt_path, &extra)?;
        write_metrics(&out.join("metrics.json"), &run, &spec)?;
    }
    if run.run.patience.is_some() {
        println!("kept the weights of epoch {} (held-out loss {:.4})", run.best.epoch, run.best.loss);
    }
    run.restore_best()?;
    println!("checkpoint: {}", ckpt_path.display());
    println!("metrics:    {}", out.join("metrics.json").display());
    for path in M::figures(&run, &data, &out)? {
        println!("figure:     {}", path.display());
    }
    Ok(())
}

fn start<M: CliModel>(args: &TrainArgs, ckpt: &Path, dev: &Device) -> Result<(Run<M>, DataSpec, M::Data)> {
    if ckpt.exists() && !args.overwrite {
        bail!(
            "{} already holds a checkpoint: pass --resume to continue it, --overwrite to start again, \
             or choose another --out",
            ckpt.parent().unwrap_or(ckpt).display()
        );
    }
    let spec = M::complete_spec(DataSpec::from_args(args, M::info().data[0]));
    let (cfg, run) = M::defaults(&spec.name);
    let cfg = M::apply(args, cfg)?;
    let run = args.run_config(run)?;
    let data = M::load_data(&spec, &run, dev)?;
    let cfg = M::fit_to_data(cfg, &data)?;
    Ok((Run::new(cfg, run, dev)?, spec, data))
}

fn resume<M: CliModel>(args: &TrainArgs, ckpt_path: &Path, dev: &Device) -> Result<(Run<M>, DataSpec, M::Data)> {
    if !ckpt_path.exists() {
        bail!("--resume: there is no checkpoint at {} to continue", ckpt_path.display());
    }
    let ckpt = checkpoint::load(ckpt_path, &Device::Cpu)?;
    let saved_spec: DataSpec = ckpt.meta_json("data")?;
    let asked = DataSpec {
        name: args.data.clone().unwrap_or(saved_spec.name.clone()),
        dir: args.data_dir.clone().or(saved_spec.dir.clone()),
        train_size: args.train_size.or(saved_spec.train_size),
        test_size: args.test_size.or(saved_spec.test_size),
        quadrants: args.quadrants.or(saved_spec.quadrants),
        baseline: args.baseline.clone().or(saved_spec.baseline.clone()),
        vqvae: args.vqvae.clone().or(saved_spec.vqvae.clone()),
        labels: args.labels.or(saved_spec.labels),
    };
    if asked != saved_spec {
        bail!(
            "cannot resume {}: it was trained with `{}`, this run asks for `{}`",
            ckpt_path.display(),
            saved_spec.as_flags(),
            asked.as_flags()
        );
    }
    let cfg = M::apply(args, ckpt.meta_json("model_config")?)?;
    let run = args.run_config(ckpt.meta_json("run_config")?)?;
    let data = M::load_data(&saved_spec, &run, dev)?;
    let cfg = M::fit_to_data(cfg, &data)?;
    let resumed = Run::resume_from(&ckpt, cfg, run, dev)?;
    println!("resuming {} after epoch {}", ckpt_path.display(), resumed.history.len());
    Ok((resumed, saved_spec, data))
}

fn epoch_with_progress<M: CliModel>(run: &mut Run<M>, data: &M::Data) -> Result<EpochRecord> {
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} steps, loss {msg} ({eta})")?
        .progress_chars("=> ");
    let bar = ProgressBar::new(run.steps_per_epoch(data) as u64).with_style(style);
    bar.set_prefix(format!("{}/{}", run.history.len() + 1, run.run.epochs));
    let result = run.epoch(data, |s| {
        bar.set_position(s.batch as u64);
        bar.set_message(format!("{:.3}", s.loss));
    });
    bar.finish_and_clear();
    Ok(result?.clone())
}

fn epoch_line(r: &EpochRecord, epochs: usize, eval_set: &str) -> String {
    let terms: Vec<String> = r.eval.terms.iter().map(|(n, v)| format!("{n} {v:.3}")).collect();
    let terms = if terms.is_empty() { String::new() } else { format!(" ({})", terms.join(", ")) };
    format!(
        "epoch {:>3}/{epochs}  train {:.3}  {eval_set} {:.3}{terms}  {:.1} s",
        r.epoch, r.train_loss, r.eval.loss, r.seconds
    )
}

fn write_metrics<M: CliModel>(path: &Path, run: &Run<M>, spec: &DataSpec) -> Result<()> {
    let metrics = RunMetrics {
        model: M::info().name,
        seed: run.run.seed,
        model_config: &run.cfg,
        run_config: run.run,
        data: spec,
        eval_set: M::eval_set(),
        best_epoch: run.best.epoch,
        epochs: &run.history,
    };
    Ok(crate::report::write_json(path, &metrics)?)
}

/// A trained model and the data its checkpoint names.
fn load<M: CliModel>(path: &Path, dev: &str) -> Result<(Run<M>, M::Data)> {
    let dev = device(dev)?;
    let ckpt = checkpoint::load(path, &dev)?;
    let run = Run::<M>::from_checkpoint(&ckpt, &dev)?;
    let spec: DataSpec = ckpt.meta_json("data")?;
    let data =
        M::load_data(&spec, &run.run, &dev).with_context(|| format!("loading the data of {}", path.display()))?;
    Ok((run, data))
}

/// `vae eval`: prints the held-out numbers of a saved model.
pub fn eval<M: CliModel>(path: &Path, k: usize, dev: &str) -> Result<()> {
    super::check_importance_samples(k)?;
    let (run, data) = load::<M>(path, dev)?;
    println!("{} model from {} (epoch {})", M::info().name, path.display(), run.history.len());
    for (name, value) in M::eval(&run, &data, k)? {
        println!("{name:<52} {value:.4}");
    }
    Ok(())
}

/// `vae sample`: draws from a saved model.
pub fn sample<M: CliModel>(path: &Path, seed: u64, out: &Path, dev: &str) -> Result<()> {
    let (run, data) = load::<M>(path, dev)?;
    println!("{}", M::sample(&run, &data, seed, out)?);
    Ok(())
}

/// `vae reconstruct`: test examples above their reconstructions.
pub fn reconstruct<M: CliModel>(path: &Path, n: usize, out: &Path, dev: &str) -> Result<()> {
    super::positive("--n", n)?;
    let (run, data) = load::<M>(path, dev)?;
    M::reconstruct(&run, &data, n, out)?;
    println!("figure: {}", out.display());
    Ok(())
}
