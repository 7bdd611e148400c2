//! The book's other architectures against PyTorch on the same CPU: the same model, data, batch,
//! optimizer and threads, run alternately (`cargo bench --bench train` does the MLP VAE).
//!
//! `cargo bench --bench models` prints, for each model, the median training time per epoch of each
//! side (first epoch of every run left out), their ratio round by round, and the test loss each
//! reached. The Rust side writes its initial weights, batch order and noise for the PyTorch script
//! (`scripts/pytorch_models.py`) to read, so both compute the same function on the same batches
//! and their losses must agree to rounding. PyTorch runs with the Python in `VAE_BOOK_PYTHON`
//! (default: the venv `~/.cache/vae-book/torch-venv`, else `python3`); without torch only candle
//! is timed. `BENCH_EPOCHS` (default 3) and `BENCH_ROUNDS` (default 2) set the size of the run,
//! `BENCH_ONLY` (names, comma-separated) picks models, `BENCH_TABLE` the generated file's name;
//! `cargo bench --bench models -- --write` also writes the table to
//! `book/src/generated/compute-models.md`, which the compute-cost chapter includes.

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};
use std::process::Command;
use vae_book::cli::{CliModel, DataSpec};
use vae_book::data::sequences::{SeqBatch, SeqSplits};
use vae_book::data::tokens::{SentenceSplits, TokenBatch};
use vae_book::data::{Images, Mnist};
use vae_book::models::conv_vae::{ConvVae, ConvVaeConfig};
use vae_book::models::text_vae::{TextVae, TextVaeTraining};
use vae_book::models::vrnn::{Vrnn, VrnnConfig};
use vae_book::prob::SeededRng;
use vae_book::train::{Run, RunConfig, named_vars};

/// One side's epochs: training seconds each, and the test loss after the last.
struct Side {
    train: Vec<f64>,
    test_loss: f64,
}

/// A model of the book as both sides train it.
struct Bench {
    /// The name `vae train --model` and `pytorch_models.py --model` know it by.
    name: &'static str,
    /// One line: architecture, data, batch.
    what: &'static str,
    /// Trains it with candle for some epochs.
    candle: fn(usize) -> Result<Side>,
    /// Writes the initial weights, batch order and noise of that run into a folder.
    inputs: fn(usize, &Path) -> Result<()>,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "conv",
        what: "convolutional VAE (Keras shape, 2-D code), 9,000 digits, batch 128",
        candle: conv_candle,
        inputs: conv_inputs,
    },
    Bench {
        name: "text",
        what: "sentence VAE (embedding 64, GRU 128, code 16), State of the Union sentences, batch 64",
        candle: text_candle,
        inputs: text_inputs,
    },
    Bench {
        name: "vrnn",
        what: "VRNN (features 64, GRU 128, code 16), Bach chorales, batches of 8 of similar length",
        candle: vrnn_candle,
        inputs: vrnn_inputs,
    },
];

/// Model `M` as `vae train --model` trains it on the embedded set `data`, for `epochs` epochs.
fn cli_setup<M: CliModel>(data: &str, epochs: usize) -> Result<(M::Config, RunConfig, M::Data)> {
    let (cfg, run) = M::defaults(data);
    let run = RunConfig { epochs, patience: None, ..run };
    let spec = DataSpec { name: data.into(), ..DataSpec::default() };
    let data = M::load_data(&spec, &run, &Device::Cpu)?;
    Ok((M::fit_to_data(cfg, &data)?, run, data))
}

/// Trains [`cli_setup`]'s run with candle: each epoch's training seconds, the last held-out loss.
fn cli_candle<M: CliModel>(data: &str, epochs: usize) -> Result<Side> {
    let (cfg, run, data) = cli_setup::<M>(data, epochs)?;
    let mut run = Run::<M>::new(cfg, run, &Device::Cpu)?;
    run.fit(&data, |_| {})?;
    let test_loss = run.history.last().map_or(f64::NAN, |e| e.eval.loss);
    Ok(Side { train: run.history.iter().map(|e| e.train_seconds).collect(), test_loss })
}

/// The sentence VAE on its embedded sentences.
fn text_setup(epochs: usize) -> Result<(TextVaeTraining, RunConfig, SentenceSplits)> {
    cli_setup::<TextVae>("sotu", epochs)
}

fn text_candle(epochs: usize) -> Result<Side> {
    cli_candle::<TextVae>("sotu", epochs)
}

/// One batch as `scripts/pytorch_models.py` reads it: sizes, decoder inputs, targets, lengths,
/// noise and the KL weight.
fn write_batch(out: &mut Vec<u8>, b: &TokenBatch, inputs: &Tensor, eps: &[f32], weight: f64) -> Result<()> {
    let (t_max, size) = b.targets.dims2()?;
    let ints = |v: &[u32]| v.iter().flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>();
    out.extend(ints(&[t_max as u32, size as u32, (eps.len() / size) as u32]));
    out.extend(ints(&inputs.flatten_all()?.to_vec1::<u32>()?));
    out.extend(ints(&b.targets.flatten_all()?.to_vec1::<u32>()?));
    out.extend(ints(&b.lengths.iter().map(|&l| l as u32).collect::<Vec<_>>()));
    out.extend(eps.iter().chain(&[weight as f32]).flat_map(|v| v.to_le_bytes()));
    Ok(())
}

/// The trainer's streams (`Run::epoch`, `TextVae::loss`, `vae_score`) written out for PyTorch.
fn text_inputs(epochs: usize, dir: &Path) -> Result<()> {
    let (cfg, run, data) = text_setup(epochs)?;
    let (d, batches) = (cfg.model.latent_dim, data.train.batches.len());
    let mut train = Vec::new();
    for epoch in 1..=epochs as u64 {
        let perm = SeededRng::derived(run.seed, "shuffle", epoch).permutation(batches);
        let mut noise = SeededRng::derived(run.seed, "noise", epoch);
        for (k, &i) in perm.iter().enumerate() {
            let b = &data.train.batches[i as usize];
            let inputs = b.decoder_inputs(cfg.remedies.word_dropout, &mut noise)?;
            let eps = noise.normal_vec(b.size() * d);
            let step = (epoch as usize - 1) * batches + k;
            write_batch(&mut train, b, &inputs, &eps, cfg.remedies.kl_weight.at(step))?;
        }
    }
    let (mut valid, mut rng) = (Vec::new(), SeededRng::derived(run.seed, "text-eval", 0));
    for b in &data.valid.batches {
        let eps = rng.normal_vec(b.size() * d);
        write_batch(&mut valid, b, &b.decoder_inputs(0.0, &mut rng)?, &eps, 1.0)?;
    }
    std::fs::write(dir.join("text-train.bin"), train)?;
    std::fs::write(dir.join("text-valid.bin"), valid)?;
    let m = cfg.model;
    let sizes = serde_json::json!({"vocab": m.vocab, "embedding": m.embedding, "hidden": m.hidden, "latent_dim": m.latent_dim, "lr": run.lr});
    std::fs::write(dir.join("text-config.json"), sizes.to_string())?;
    save_init(&Run::<TextVae>::new(cfg, run, &Device::Cpu)?.varmap, dir)
}

/// The VRNN on the embedded chorales.
fn vrnn_setup(epochs: usize) -> Result<(VrnnConfig, RunConfig, SeqSplits)> {
    cli_setup::<Vrnn>("chorales", epochs)
}

fn vrnn_candle(epochs: usize) -> Result<Side> {
    cli_candle::<Vrnn>("chorales", epochs)
}

/// One length bucket as `scripts/pytorch_models.py` reads it: sizes, frames, mask and noise.
fn write_seq_batch(out: &mut Vec<u8>, b: &SeqBatch, eps: &[f32]) -> Result<()> {
    let (t, n, d) = b.x.dims3()?;
    let sizes = [t, n, d, eps.len() / (t * n)].map(|v| v as u32);
    out.extend(sizes.iter().flat_map(|v| v.to_le_bytes()));
    let floats = [b.x.flatten_all()?.to_vec1::<f32>()?, b.mask.flatten_all()?.to_vec1::<f32>()?, eps.to_vec()];
    out.extend(floats.iter().flatten().flat_map(|v| v.to_le_bytes()));
    Ok(())
}

/// The trainer's streams (`Run::epoch`, `Vrnn::loss`, `vrnn_elbo`) written out for PyTorch.
fn vrnn_inputs(epochs: usize, dir: &Path) -> Result<()> {
    let (cfg, run, data) = vrnn_setup(epochs)?;
    let (l, batches) = (cfg.latent_dim, data.train.batches.len());
    let mut train = Vec::new();
    for epoch in 1..=epochs as u64 {
        let perm = SeededRng::derived(run.seed, "shuffle", epoch).permutation(batches);
        let mut noise = SeededRng::derived(run.seed, "noise", epoch);
        for &i in &perm {
            let b = &data.train.batches[i as usize];
            let (t, n, _) = b.x.dims3()?;
            write_seq_batch(&mut train, b, &noise.normal_vec(t * n * l))?;
        }
    }
    let (mut valid, mut rng) = (Vec::new(), SeededRng::derived(run.seed, "vrnn-eval", 0));
    for b in &data.valid.batches {
        let (t, n, _) = b.x.dims3()?;
        write_seq_batch(&mut valid, b, &rng.normal_vec(t * n * l))?;
    }
    std::fs::write(dir.join("vrnn-train.bin"), train)?;
    std::fs::write(dir.join("vrnn-valid.bin"), valid)?;
    let sizes = serde_json::json!({"input_dim": cfg.input_dim, "feature": cfg.feature, "hidden": cfg.hidden, "latent_dim": l, "lr": run.lr});
    std::fs::write(dir.join("vrnn-config.json"), sizes.to_string())?;
    save_init(&Run::<Vrnn>::new(cfg, run, &Device::Cpu)?.varmap, dir)
}

const CONV: ConvVaeConfig = ConvVaeConfig { latent_dim: 2 };

fn conv_schedule(epochs: usize) -> RunConfig {
    RunConfig { epochs, batch_size: 128, lr: 1e-3, seed: 42, patience: None }
}

fn conv_candle(epochs: usize) -> Result<Side> {
    let images = Images::from_mnist(&Mnist::embedded()?, &Device::Cpu)?;
    let mut run = Run::<ConvVae>::new(CONV, conv_schedule(epochs), &Device::Cpu)?;
    run.fit(&images, |_| {})?;
    let test_loss = run.history.last().map_or(f64::NAN, |e| e.eval.loss);
    Ok(Side { train: run.history.iter().map(|e| e.train_seconds).collect(), test_loss })
}

/// The trainer's streams (`Run::epoch`, `conv_vae::evaluate`) written out for PyTorch.
fn conv_inputs(epochs: usize, dir: &Path) -> Result<()> {
    let s = conv_schedule(epochs);
    let data = Mnist::embedded()?;
    let (mut order, mut noise) = (Vec::new(), Vec::new());
    for epoch in 1..=epochs as u64 {
        let perm = SeededRng::derived(s.seed, "shuffle", epoch).permutation(data.train.len());
        let mut rng = SeededRng::derived(s.seed, "noise", epoch);
        for batch in perm.chunks(s.batch_size) {
            order.extend(batch.iter().flat_map(|i| i.to_le_bytes()));
            noise.extend(rng.normal_vec(batch.len() * CONV.latent_dim).iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    let eval = SeededRng::derived(s.seed, "eval", 0).normal_vec(data.test.len() * CONV.latent_dim);
    std::fs::write(dir.join("order.bin"), order)?;
    std::fs::write(dir.join("noise.bin"), noise)?;
    std::fs::write(dir.join("eval-noise.bin"), eval.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
    save_init(&Run::<ConvVae>::new(CONV, s, &Device::Cpu)?.varmap, dir)
}

/// A fresh run's initial weights, for PyTorch to start from.
fn save_init(varmap: &candle_nn::VarMap, dir: &Path) -> Result<()> {
    let weights: std::collections::HashMap<String, Tensor> =
        named_vars(varmap)?.into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    candle_core::safetensors::save(&weights, dir.join("init.safetensors"))?;
    Ok(())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The middle value, or the mean of the two middle values of an even count.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        n => v[n / 2],
    }
}

fn python() -> String {
    if let Ok(p) = std::env::var("VAE_BOOK_PYTHON") {
        return p;
    }
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()));
    let venv = home.join(".cache/vae-book/torch-venv/bin/python");
    if venv.exists() { venv.display().to_string() } else { "python3".into() }
}

/// PyTorch's run of `bench` on the inputs in `dir`, or `None` (with the reason) if it cannot run.
fn torch_side(py: &str, bench: &Bench, epochs: usize, dir: &Path) -> Result<Option<(Side, String)>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pytorch_models.py");
    let threads = candle_core::utils::get_num_threads().to_string();
    let files: &[(&str, &str)] = match bench.name {
        "text" => &[
            ("--text-config", "text-config.json"),
            ("--text-train", "text-train.bin"),
            ("--text-valid", "text-valid.bin"),
        ],
        "vrnn" => &[
            ("--vrnn-config", "vrnn-config.json"),
            ("--vrnn-train", "vrnn-train.bin"),
            ("--vrnn-valid", "vrnn-valid.bin"),
        ],
        _ => &[("--order", "order.bin"), ("--noise", "noise.bin"), ("--eval-noise", "eval-noise.bin")],
    };
    let out = Command::new(py)
        .args([script, "--model", bench.name, "--epochs", &epochs.to_string(), "--threads", &threads])
        .args(
            files
                .iter()
                .chain(&[("--init", "init.safetensors")])
                .flat_map(|(flag, file)| [std::ffi::OsString::from(flag), dir.join(file).into_os_string()]),
        )
        .output()
        .with_context(|| format!("cannot run {py}"))?;
    if !out.status.success() {
        eprintln!("PyTorch reference did not run ({py}):\n{}", String::from_utf8_lossy(&out.stderr));
        return Ok(None);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().context("no output from PyTorch")?)?;
    let epochs = json["epochs"].as_array().context("no epochs in the PyTorch output")?;
    let f = |e: &serde_json::Value, k: &str| e[k].as_f64().unwrap_or(f64::NAN);
    let side = Side {
        train: epochs.iter().map(|e| f(e, "train_seconds")).collect(),
        test_loss: epochs.last().map_or(f64::NAN, |e| f(e, "test_loss")),
    };
    Ok(Some((side, json["torch"].as_str().unwrap_or("?").to_string())))
}

/// One table row: both sides' medians, the ratio, the rounds' ratios and the losses.
struct Row {
    what: &'static str,
    candle: f64,
    torch: Option<(f64, String)>,
    rounds: Vec<f64>,
    losses: (f64, f64),
}

fn measure(bench: &Bench, epochs: usize, rounds: usize, py: &str) -> Result<Row> {
    let dir = std::env::temp_dir().join(format!("vae-book-bench-{}", bench.name));
    std::fs::create_dir_all(&dir)?;
    (bench.inputs)(epochs, &dir)?;
    let (mut ours, mut theirs, mut ratios, mut losses, mut version) = (vec![], vec![], vec![], (0.0, f64::NAN), None);
    for round in 1..=rounds {
        let c = (bench.candle)(epochs)?;
        let candle = median(c.train[1..].to_vec());
        ours.push(candle);
        losses.0 = c.test_loss;
        let mut line = format!("{} round {round}: candle {candle:.2} s/epoch", bench.name);
        if let Some((t, v)) = torch_side(py, bench, epochs, &dir)? {
            let torch = median(t.train[1..].to_vec());
            theirs.push(torch);
            ratios.push(candle / torch);
            losses.1 = t.test_loss;
            version = Some(v);
            line += &format!(", PyTorch {torch:.2} s/epoch, ratio {:.2}", candle / torch);
        }
        println!("{line}");
    }
    let torch = version.map(|v| (median(theirs), v));
    Ok(Row { what: bench.what, candle: median(ours), torch, rounds: ratios, losses })
}

fn table(rows: &[Row], epochs: usize, rounds: usize) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |v| v.trim_start_matches([' ', '\t', ':']));
    let torch = rows.iter().find_map(|r| r.torch.as_ref().map(|t| t.1.clone())).unwrap_or_else(|| "not run".into());
    let mut md = format!(
        "Measured by `cargo bench --bench models` on {cpu} ({} threads), {epochs} epochs x {rounds} rounds, candle and \
         PyTorch {torch} alternating, with the same initial weights, batch order and noise; medians of epochs 2 to {epochs}.\n\n\
         | model | candle s/epoch | PyTorch s/epoch | ratio | rounds' ratios | held-out −ELBO after {epochs} epochs, candle / PyTorch |\n\
         |---|---:|---:|---:|---|---|\n",
        candle_core::utils::get_num_threads()
    );
    for r in rows {
        let (torch, ratio) = r
            .torch
            .as_ref()
            .map_or(("-".into(), "-".into()), |t| (format!("{:.2}", t.0), format!("**{:.2}**", r.candle / t.0)));
        let rounds: Vec<String> = r.rounds.iter().map(|x| format!("{x:.2}")).collect();
        md += &format!(
            "| {} | {:.2} | {torch} | {ratio} | {} | {:.2} / {:.2} |\n",
            r.what,
            r.candle,
            rounds.join(", "),
            r.losses.0,
            r.losses.1
        );
    }
    md
}

fn main() -> Result<()> {
    let (epochs, rounds) = (env_usize("BENCH_EPOCHS", 3).max(2), env_usize("BENCH_ROUNDS", 2).max(1));
    let py = python();
    // `BENCH_ONLY=vrnn` (a comma-separated list of names) measures only those models.
    let only = std::env::var("BENCH_ONLY").ok();
    let chosen = |b: &&Bench| only.as_ref().is_none_or(|o| o.split(',').any(|n| n == b.name));
    let rows = BENCHES.iter().filter(chosen).map(|b| measure(b, epochs, rounds, &py)).collect::<Result<Vec<_>>>()?;
    let md = table(&rows, epochs, rounds);
    println!("\n{md}");
    if std::env::args().any(|a| a == "--write") {
        anyhow::ensure!(only.is_none(), "--write needs every model's row: run it without BENCH_ONLY");
        // `BENCH_TABLE` names the generated file, for a second machine's table (`compute-models-xeon.md`).
        let name = std::env::var("BENCH_TABLE").unwrap_or_else(|_| "compute-models.md".into());
        anyhow::ensure!(
            name.starts_with("compute-models") && name.ends_with(".md") && !name.contains('/'),
            "BENCH_TABLE must be a file name like compute-models-NAME.md, got {name:?}"
        );
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("book/src/generated").join(name);
        std::fs::write(&path, &md)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
