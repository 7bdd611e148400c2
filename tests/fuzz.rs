//! Mutation fuzzing of every loader: seeded bit flips, byte overwrites, truncations, insertions,
//! deletions, duplicated ranges and swapped headers over real files of each format. No input may
//! panic, and every error must name the file it came from. Run with `--nocapture` for the counts.

use flate2::Compression;
use flate2::write::GzEncoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use vae_book::candle_core::Device;
use vae_book::checkpoint;
use vae_book::data::chorales::Chorales;
use vae_book::data::tabular::Table;
use vae_book::data::{Mnist, idx, sotu};
use vae_book::models::cvae::{Cvae, CvaeConfig};
use vae_book::models::vae::VaeConfig;
use vae_book::train::{self, Run, RunConfig, TrainConfig, Trainer};

/// Mutated inputs per format.
const CASES: usize = 10_000;

/// Applies one to four random mutations to `seed`; `other` lends its header for the swap.
fn mutate(seed: &[u8], other: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let n = v.len().max(1);
        match rng.random_range(0..7) {
            0 => {
                let i = rng.random_range(0..n);
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                let i = rng.random_range(0..n);
                let value = [0u8, 0xff, 0x7f, 0x80, b'9', b'"', b'\t', b'\n', rng.random()][rng.random_range(0..9)];
                if let Some(b) = v.get_mut(i) {
                    *b = value;
                }
            }
            2 => v.truncate(rng.random_range(0..n)),
            3 => {
                let at = rng.random_range(0..=v.len());
                let extra: Vec<u8> = (0..rng.random_range(1..17)).map(|_| rng.random()).collect();
                v.splice(at..at, extra);
            }
            4 => {
                let a = rng.random_range(0..n).min(v.len());
                let b = (a + rng.random_range(0..64)).min(v.len());
                v.drain(a..b);
            }
            5 => {
                let a = rng.random_range(0..n).min(v.len());
                let b = (a + rng.random_range(0..64)).min(v.len());
                let copy = v[a..b].to_vec();
                let at = rng.random_range(0..=v.len());
                v.splice(at..at, copy);
            }
            _ => {
                let k = rng.random_range(1..=16).min(other.len()).min(v.len());
                v[..k].copy_from_slice(&other[..k]);
            }
        }
    }
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Feeds `CASES` mutations of `seed` to `load`; every error must name `file`. Returns (ok, errors).
fn fuzz(
    name: &str,
    seed: &[u8],
    other: &[u8],
    file: &str,
    mut load: impl FnMut(&[u8]) -> Result<(), String>,
) -> (usize, usize) {
    if let Err(e) = load(seed) {
        panic!("{name}: the unmutated seed must load: {e}");
    }
    let mut rng = StdRng::seed_from_u64(name.bytes().map(u64::from).sum());
    let (mut ok, mut errors) = (0, 0);
    for case in 0..CASES {
        let input = mutate(seed, other, &mut rng);
        match load(&input) {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(e.contains(file), "{name}, case {case}: the error does not name {file}: {e}");
                errors += 1;
            }
        }
    }
    println!("{name}: {CASES} mutated inputs, {ok} loaded, {errors} refused with the file named, 0 panics");
    (ok, errors)
}

fn small_idx() -> (Vec<u8>, Vec<u8>) {
    let test = Mnist::embedded().unwrap().test.take(8);
    let images = idx::IdxImages { count: test.len(), rows: test.rows, cols: test.cols, pixels: test.pixels.clone() };
    let labels = idx::IdxLabels { labels: test.labels.clone() };
    (idx::encode_images(&images), idx::encode_labels(&labels))
}

#[test]
fn idx_files_plain_and_gzipped() {
    let (images, labels) = small_idx();
    let path = Path::new("fuzz/t10k-images-idx3-ubyte");
    let as_images = |b: &[u8]| idx::parse_images(b, path).map(|_| ()).map_err(|e| e.to_string());
    fuzz("IDX images", &images, &labels, "t10k-images-idx3-ubyte", as_images);
    let lpath = Path::new("fuzz/t10k-labels-idx1-ubyte");
    fuzz("IDX labels", &labels, &images, "t10k-labels-idx1-ubyte", |b| {
        idx::parse_labels(b, lpath).map(|_| ()).map_err(|e| e.to_string())
    });
    let gz = Path::new("fuzz/t10k-images-idx3-ubyte.gz");
    fuzz("IDX images .gz", &gzip(&images), &gzip(&labels), "t10k-images-idx3-ubyte.gz", |b| {
        let raw = idx::decode_maybe_gz(b.to_vec(), gz).map_err(|e| e.to_string())?;
        idx::parse_images(&raw, gz).map(|_| ()).map_err(|e| e.to_string())
    });
}

#[test]
fn checkpoints_of_the_trainer_and_of_the_mlp() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let run_path = dir.path().join("cvae.safetensors");
    let run = RunConfig { epochs: 1, batch_size: 8, lr: 1e-3, seed: 1, patience: Some(2) };
    let cfg = CvaeConfig { input_dim: 16, hidden: 8, latent_dim: 2, classes: 3 };
    Run::<Cvae>::new(cfg, run, &dev).unwrap().save(&run_path, &[("data", "{}".into())]).unwrap();
    let mlp_path = dir.path().join("mlp.safetensors");
    let tiny = TrainConfig {
        model: VaeConfig { input_dim: 784, hidden: 4, latent_dim: 2 },
        train_size: Some(16),
        test_size: Some(8),
        ..TrainConfig::default()
    };
    Trainer::new(tiny, &dev).unwrap().save(&mlp_path).unwrap();
    let (run_bytes, mlp_bytes) = (std::fs::read(&run_path).unwrap(), std::fs::read(&mlp_path).unwrap());
    let fake = Path::new("fuzz/run-checkpoint.safetensors");
    fuzz("Run checkpoint", &run_bytes, &mlp_bytes, "run-checkpoint.safetensors", |b| {
        let ckpt = checkpoint::from_bytes(b, fake, &dev).map_err(|e| e.to_string())?;
        Run::<Cvae>::from_checkpoint(&ckpt, &dev).map(|_| ()).map_err(|e| e.to_string())
    });
    let fake = Path::new("fuzz/mlp-checkpoint.safetensors");
    fuzz("MLP checkpoint", &mlp_bytes, &run_bytes, "mlp-checkpoint.safetensors", |b| {
        let ckpt = checkpoint::from_bytes(b, fake, &dev).map_err(|e| e.to_string())?;
        train::model_from_checkpoint(&ckpt, &dev).map(|_| ()).map_err(|e| e.to_string())
    });
}

#[test]
fn scikit_learn_tables() {
    let iris = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sklearn/iris.csv")).unwrap();
    let cancer = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sklearn/breast_cancer.csv")).unwrap();
    for (name, seed, other) in [("iris.csv", &iris, &cancer), ("breast_cancer.csv", &cancer, &iris)] {
        fuzz(name, seed, other, name, |b| {
            Table::parse(name, &String::from_utf8_lossy(b)).map(|_| ()).map_err(|e| e.to_string())
        });
    }
}

#[test]
fn chorales_json() {
    let full: serde_json::Value = serde_json::from_str(include_str!("../data/chorales/chorales.json")).unwrap();
    let mut small = full.clone();
    small["chorales"] = serde_json::Value::Array(full["chorales"].as_array().unwrap()[..4].to_vec());
    let seed = serde_json::to_vec(&small).unwrap();
    let file = "fuzz/chorales.json";
    fuzz("chorales JSON", &seed, b"{\"source\":1}", file, |b| {
        Chorales::parse(file, &String::from_utf8_lossy(b)).map(|_| ()).map_err(|e| e.to_string())
    });
}

#[test]
fn sentences_tsv_plain_and_gzipped() {
    let sentences = sotu::embedded().unwrap();
    let mut text = String::from("year\tparty\tsplit\ttokens\n");
    for s in sentences.iter().take(60) {
        let split = format!("{:?}", s.split).to_lowercase();
        text.push_str(&format!("{}\t{}\t{split}\t{}\n", s.year, s.party, s.tokens.join(" ")));
    }
    let file = "fuzz/sentences.tsv.gz";
    fuzz("sentences TSV", text.as_bytes(), b"year,party", file, |b| {
        sotu::parse(file, &String::from_utf8_lossy(b)).map(|_| ()).map_err(|e| e.to_string())
    });
    fuzz("sentences TSV .gz", &gzip(text.as_bytes()), &gzip(b"x"), file, |b| {
        sotu::parse_gz(file, b).map(|_| ()).map_err(|e| e.to_string())
    });
}
