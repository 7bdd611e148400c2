//! Candle against PyTorch on the same CPU: the classic VAE (784-400-20, batch 128, Adam 1e-3) on
//! the embedded data, the same batch order and the same number of threads, run alternately.
//!
//! `cargo bench --bench train` prints the median time per epoch of training (forward, backward,
//! optimizer step) and of the test evaluation for each, their ratio, and the test loss each reached.
//! PyTorch runs `scripts/pytorch_reference.py` with the Python in `VAE_BOOK_PYTHON` (default: the
//! venv `~/.cache/vae-book/torch-venv`, else `python3`); without torch, only candle is timed.
//! `BENCH_EPOCHS` (default 5) and `BENCH_ROUNDS` (default 2) set the size of the run.
//! It also splits one epoch into forward + loss, backward and optimizer time, for the plain code
//! the book teaches (autograd over stock candle ops, tensor-op Adam) and for the fused kernels the
//! trainer uses. `cargo bench --bench train -- --write` also writes the tables to
//! `book/src/generated/compute-cost.md`, which the compute-cost chapter includes.

use anyhow::{Context, Result};
use candle_core::Device;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use vae_book::models::vae::{negative_elbo, negative_elbo_fast};
use vae_book::optim::Adam;
use vae_book::prob::SeededRng;
use vae_book::train::{TrainConfig, Trainer, named_vars};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

struct Run {
    train: Vec<f64>,
    eval: Vec<f64>,
    test_loss: f64,
}

fn candle_run(epochs: usize) -> Result<Run> {
    let cfg = TrainConfig { epochs, ..TrainConfig::default() };
    let mut t = Trainer::new(cfg, &Device::Cpu)?;
    let mut run = Run { train: vec![], eval: vec![], test_loss: f64::NAN };
    while t.next_epoch() <= epochs {
        let m = t.train_epoch(|_, _| {})?;
        run.train.push(m.train_seconds);
        run.eval.push(m.seconds - m.train_seconds);
        run.test_loss = m.test_loss;
    }
    Ok(run)
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// Autograd over stock candle ops, tensor-op Adam: the code the book teaches.
    Plain,
    /// Autograd over the fused kernels of `vae_book::cpu::fused`, in-place Adam.
    Fused,
    /// The hand-written backward pass of `vae_book::cpu::manual`, in-place Adam: what `Trainer` runs.
    Manual,
}

/// One way of running the training step, with its own model and optimizer state.
struct PhaseRun {
    path: Path,
    trainer: Trainer,
    opt: Adam,
    manual: vae_book::cpu::manual::ManualStep,
    x_train: candle_core::Tensor,
    x_host: Vec<f32>,
}

impl PhaseRun {
    fn new(path: Path) -> Result<Self> {
        let trainer = Trainer::new(TrainConfig::default(), &Device::Cpu)?;
        let x_train = trainer.data.train.images(&Device::Cpu)?;
        let opt = Adam::with_kernel(named_vars(&trainer.varmap)?, 1e-3, path != Path::Plain)?;
        let x_host = x_train.flatten_all()?.to_vec1::<f32>()?;
        Ok(Self { path, trainer, opt, manual: vae_book::cpu::manual::ManualStep::new(), x_train, x_host })
    }

    /// Seconds of forward + loss, backward and optimizer over one epoch. The hand-written path
    /// computes forward and backward in one call: its time is all in "backward".
    fn epoch(&mut self, epoch: u64) -> Result<[f64; 3]> {
        let dev = Device::Cpu;
        let perm = SeededRng::derived(42, "shuffle", epoch).permutation(self.x_train.dim(0)?);
        let mut noise = SeededRng::derived(42, "noise", epoch);
        let mut sums = [0.0; 3];
        for idx in perm.chunks(128) {
            let start = Instant::now();
            let mid = if self.path == Path::Manual {
                let eps = noise.normal_vec(idx.len() * 20);
                let x: Vec<f32> = idx.iter().flat_map(|&i| &self.x_host[i as usize * 784..][..784]).copied().collect();
                self.manual.run(&self.trainer.model, &x, &eps, idx.len(), 1.0)?;
                let mid = Instant::now();
                let manual = &self.manual;
                self.opt.step_host(|name| manual.grad(name))?;
                (start, mid)
            } else {
                let idx = candle_core::Tensor::from_slice(idx, idx.len(), &dev)?;
                let x = self.x_train.index_select(&idx, 0)?;
                let eps = noise.normal(&[idx.dim(0)?, 20], &dev)?;
                let model = &self.trainer.model;
                let loss = if self.path == Path::Fused {
                    negative_elbo_fast(&x, &model.forward_fast(&x, &eps)?)?
                } else {
                    negative_elbo(&x, &model.forward(&x, &eps)?)?
                };
                let _ = loss.total.to_scalar::<f32>()?;
                let forward_done = Instant::now();
                let grads = loss.total.backward()?;
                let mid = Instant::now();
                self.opt.step(&grads)?;
                (forward_done, mid)
            };
            sums[0] += (mid.0 - start).as_secs_f64();
            sums[1] += (mid.1 - mid.0).as_secs_f64();
            sums[2] += mid.1.elapsed().as_secs_f64();
        }
        Ok(sums)
    }
}

/// The phases of every path, epoch by epoch in turn (so that a slow spell of the machine hits all
/// of them alike); medians of epochs 2 to `epochs`.
fn phases(paths: &[Path], epochs: usize) -> Result<Vec<[f64; 3]>> {
    let mut runs = paths.iter().map(|&p| PhaseRun::new(p)).collect::<Result<Vec<_>>>()?;
    let mut per_epoch = vec![vec![]; paths.len()];
    for epoch in 1..=epochs as u64 {
        for (run, times) in runs.iter_mut().zip(per_epoch.iter_mut()) {
            times.push(run.epoch(epoch)?);
        }
    }
    Ok(per_epoch.iter().map(|t| std::array::from_fn(|i| median(t[1..].iter().map(|p| p[i]).collect()))).collect())
}

fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

fn python() -> String {
    if let Ok(p) = std::env::var("VAE_BOOK_PYTHON") {
        return p;
    }
    let venv = dirs_home().join(".cache/vae-book/torch-venv/bin/python");
    if venv.exists() { venv.display().to_string() } else { "python3".into() }
}

fn dirs_home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
}

fn torch_run(py: &str, epochs: usize, threads: usize, dir: &std::path::Path) -> Result<Option<(Run, String)>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pytorch_reference.py");
    let out = Command::new(py)
        .args([script, "--epochs", &epochs.to_string(), "--threads", &threads.to_string()])
        .args(
            ["--order", "--noise", "--eval-noise", "--init"]
                .iter()
                .zip(["order.bin", "noise.bin", "eval-noise.bin", "init.safetensors"])
                .flat_map(|(flag, file)| [std::ffi::OsString::from(flag), dir.join(file).into_os_string()]),
        )
        .output()
        .with_context(|| format!("cannot run {py}"))?;
    if !out.status.success() {
        eprintln!("PyTorch reference did not run ({}):\n{}", py, String::from_utf8_lossy(&out.stderr));
        return Ok(None);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().context("no output from the PyTorch script")?;
    let json: serde_json::Value = serde_json::from_str(last)?;
    let epochs = json["epochs"].as_array().context("no epochs in the PyTorch output")?;
    let f = |e: &serde_json::Value, k: &str| e[k].as_f64().unwrap_or(f64::NAN);
    let run = Run {
        train: epochs.iter().map(|e| f(e, "train_seconds")).collect(),
        eval: epochs.iter().map(|e| f(e, "seconds") - f(e, "train_seconds")).collect(),
        test_loss: epochs.last().map(|e| f(e, "test_loss")).unwrap_or(f64::NAN),
    };
    Ok(Some((run, json["torch"].as_str().unwrap_or("?").to_string())))
}

fn main() -> Result<()> {
    let epochs = env_usize("BENCH_EPOCHS", 5).max(2);
    let rounds = env_usize("BENCH_ROUNDS", 2).max(1);
    let threads = candle_core::utils::get_num_threads();
    let cfg = TrainConfig::default();
    let n_train = vae_book::data::Mnist::embedded()?.train.len();

    // The batch order, the noise and the initial weights of the Rust run, for PyTorch to follow:
    // both sides then compute the same function on the same batches.
    let dir = std::env::temp_dir().join("vae-book-bench");
    std::fs::create_dir_all(&dir)?;
    let (mut order, mut noise) =
        (std::fs::File::create(dir.join("order.bin"))?, std::fs::File::create(dir.join("noise.bin"))?);
    for epoch in 1..=epochs as u64 {
        let perm = SeededRng::derived(cfg.seed, "shuffle", epoch).permutation(n_train);
        let mut rng = SeededRng::derived(cfg.seed, "noise", epoch);
        for batch in perm.chunks(cfg.batch_size) {
            for i in batch {
                order.write_all(&i.to_le_bytes())?;
            }
            for v in rng.normal_vec(batch.len() * cfg.model.latent_dim) {
                noise.write_all(&v.to_le_bytes())?;
            }
        }
    }
    let n_test = vae_book::data::Mnist::embedded()?.test.len();
    let eval: Vec<u8> = SeededRng::derived(cfg.seed, "eval", 0)
        .normal_vec(n_test * cfg.model.latent_dim)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(dir.join("eval-noise.bin"), eval)?;
    let init = Trainer::new(cfg.clone(), &Device::Cpu)?;
    let weights: std::collections::HashMap<String, candle_core::Tensor> =
        named_vars(&init.varmap)?.into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    candle_core::safetensors::save(&weights, dir.join("init.safetensors"))?;

    let py = python();
    println!(
        "classic VAE 784-400-20, batch 128, Adam 1e-3, {n_train} images, {epochs} epochs x {rounds} rounds, {threads} threads"
    );
    let (mut c_train, mut c_eval, mut t_train, mut t_eval) = (vec![], vec![], vec![], vec![]);
    let (mut c_loss, mut t_loss, mut torch_version) = (f64::NAN, f64::NAN, None);
    let mut round_ratios = vec![];
    for round in 1..=rounds {
        // The first epoch of each run warms caches and allocators: leave it out of the medians.
        let c = candle_run(epochs)?;
        println!("round {round}: candle  {:?}", c.train.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>());
        c_train.extend(&c.train[1..]);
        c_eval.extend(&c.eval[1..]);
        c_loss = c.test_loss;
        if let Some((t, version)) = torch_run(&py, epochs, threads, &dir)? {
            println!("round {round}: pytorch {:?}", t.train.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>());
            round_ratios.push(median(c.train[1..].to_vec()) / median(t.train[1..].to_vec()));
            t_train.extend(&t.train[1..]);
            t_eval.extend(&t.eval[1..]);
            t_loss = t.test_loss;
            torch_version = Some(version);
        }
    }
    let (ct, ce) = (median(c_train), median(c_eval));
    let mut md = format!(
        "Measured by `cargo bench --bench train` on {} ({threads} threads), {n_train} training images, \
         batch 128, {epochs} epochs x {rounds} rounds, candle and PyTorch alternating, with the same initial weights, \
         batch order and noise; medians of epochs 2 to {epochs}.\n\n",
        cpu_name()
    );
    md +=
        &format!("| | train s/epoch | test evaluation s | test −ELBO after {epochs} epochs |\n|---|---:|---:|---:|\n");
    md += &format!("| candle (this crate) | {ct:.3} | {ce:.4} | {c_loss:.2} |\n");
    if let Some(v) = &torch_version {
        let (tt, te) = (median(t_train), median(t_eval));
        md += &format!("| PyTorch {v} | {tt:.3} | {te:.4} | {t_loss:.2} |\n");
        md += &format!(
            "| ratio candle / PyTorch (for the loss, the difference) | **{:.2}** | {:.2} | {:+.2} nats |\n",
            ct / tt,
            ce / te,
            c_loss - t_loss
        );
        let rounds: Vec<String> = round_ratios.iter().map(|r| format!("{r:.2}")).collect();
        md += &format!("\nThe training-time ratio round by round: {}.\n", rounds.join(", "));
    } else {
        md += "\n(PyTorch was not available for this run.)\n";
    }
    md += "\nOne epoch of candle, split by phase (seconds):\n\n";
    md += "| | forward + loss | backward | optimizer | total |\n|---|---:|---:|---:|---:|\n";
    let names = [
        ("plain: autograd over stock candle ops, tensor-op Adam", Path::Plain),
        ("fused kernels under autograd, in-place Adam", Path::Fused),
        ("hand-written backward, in-place Adam (what `Trainer` runs)", Path::Manual),
    ];
    let times = phases(&names.map(|n| n.1), epochs)?;
    for ((name, path), p) in names.into_iter().zip(times) {
        let fwd = if path == Path::Manual { "(in backward)".to_string() } else { format!("{:.3}", p[0]) };
        md += &format!("| {name} | {fwd} | {:.3} | {:.3} | {:.3} |\n", p[1], p[2], p.iter().sum::<f64>());
    }
    println!("\n{md}");
    if std::env::args().any(|a| a == "--write") {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("book/src/generated/compute-cost.md");
        std::fs::write(&path, &md)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
