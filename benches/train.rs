//! Candle against PyTorch on the same CPU: the classic VAE (784-400-20, batch 128, Adam 1e-3) on
//! the embedded data, the same batch order and the same number of threads, run alternately.
//!
//! `cargo bench --bench train` prints the median time per epoch of training (forward, backward,
//! optimizer step) and of the test evaluation for each, their ratio, and the test loss each reached.
//! PyTorch runs `scripts/pytorch_reference.py` with the Python in `VAE_BOOK_PYTHON` (default: the
//! venv `~/.cache/vae-book/torch-venv`, else `python3`); without torch, only candle is timed.
//! `BENCH_EPOCHS` (default 5) and `BENCH_ROUNDS` (default 2) set the size of the run.

use anyhow::{Context, Result};
use candle_core::Device;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use vae_book::prob::SeededRng;
use vae_book::train::{TrainConfig, Trainer};

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

fn torch_run(py: &str, epochs: usize, threads: usize, order: &PathBuf) -> Result<Option<(Run, String)>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pytorch_reference.py");
    let out = Command::new(py)
        .args([script, "--epochs", &epochs.to_string(), "--threads", &threads.to_string()])
        .arg("--order")
        .arg(order)
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

    // The batch order of every epoch, as the Rust trainer draws it, for PyTorch to follow.
    let order = std::env::temp_dir().join("vae-book-bench-order.bin");
    let mut f = std::fs::File::create(&order)?;
    for epoch in 1..=epochs {
        for i in SeededRng::derived(cfg.seed, "shuffle", epoch as u64).permutation(n_train) {
            f.write_all(&i.to_le_bytes())?;
        }
    }
    drop(f);

    let py = python();
    println!(
        "classic VAE 784-400-20, batch 128, Adam 1e-3, {n_train} images, {epochs} epochs x {rounds} rounds, {threads} threads"
    );
    let (mut c_train, mut c_eval, mut t_train, mut t_eval) = (vec![], vec![], vec![], vec![]);
    let (mut c_loss, mut t_loss, mut torch_version) = (f64::NAN, f64::NAN, None);
    for round in 1..=rounds {
        // The first epoch of each run warms caches and allocators: leave it out of the medians.
        let c = candle_run(epochs)?;
        println!("round {round}: candle  {:?}", c.train.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>());
        c_train.extend(&c.train[1..]);
        c_eval.extend(&c.eval[1..]);
        c_loss = c.test_loss;
        if let Some((t, version)) = torch_run(&py, epochs, threads, &order)? {
            println!("round {round}: pytorch {:?}", t.train.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>());
            t_train.extend(&t.train[1..]);
            t_eval.extend(&t.eval[1..]);
            t_loss = t.test_loss;
            torch_version = Some(version);
        }
    }
    let (ct, ce) = (median(c_train), median(c_eval));
    println!();
    println!("| | train s/epoch | test eval s | test -ELBO after {epochs} epochs |");
    println!("|---|---:|---:|---:|");
    println!("| candle (vae-book) | {ct:.3} | {ce:.4} | {c_loss:.2} |");
    if let Some(v) = torch_version {
        let (tt, te) = (median(t_train), median(t_eval));
        println!("| PyTorch {v} | {tt:.3} | {te:.4} | {t_loss:.2} |");
        println!("| ratio candle / PyTorch | {:.2} | {:.2} | {:+.2} nats |", ct / tt, ce / te, c_loss - t_loss);
    } else {
        println!("(no PyTorch: install torch into ~/.cache/vae-book/torch-venv or set VAE_BOOK_PYTHON)");
    }
    Ok(())
}
