//! The `vae` program as a user meets it: outputs on disk, resume, and clear errors (no panics).

use std::path::Path;
use std::process::{Command, Output};

fn vae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae")).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn assert_clean_failure(o: &Output, needle: &str) {
    let t = text(o);
    assert!(!o.status.success(), "should fail: {t}");
    assert!(t.contains(needle), "expected {needle:?} in: {t}");
    assert!(!t.contains("panicked"), "a panic is not an error message: {t}");
}

/// Reads a PNG and returns (width, height, number of distinct grey levels in the red channel).
fn png_stats(path: &Path) -> (u32, u32, usize) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    let mut seen = [false; 256];
    for p in img.pixels() {
        seen[p[0] as usize] = true;
    }
    (img.width(), img.height(), seen.iter().filter(|s| **s).count())
}

const SMALL: [&str; 8] = ["--train-size", "600", "--test-size", "200", "--hidden", "32", "--latent-dim", "2"];

#[test]
fn train_resume_sample_reconstruct() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let mut args = vec!["train", "--epochs", "1", "--out", out_s];
    args.extend(SMALL);
    let o = vae(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("seed 42"), "the seed is printed: {}", text(&o));
    for f in [
        "checkpoint.safetensors",
        "metrics.json",
        "reconstructions.png",
        "samples.png",
        "latent.png",
        "loss.png",
        "manifold.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let (w, h, levels) = png_stats(&out.join("samples.png"));
    assert!(w > 400 && h > 400 && levels > 20, "samples.png {w}x{h} with {levels} grey levels");
    let (_, _, levels) = png_stats(&out.join("latent.png"));
    assert!(levels > 10, "latent.png looks blank");

    // Running again without --resume must not silently destroy the run.
    assert_clean_failure(&vae(&args), "already holds a checkpoint");

    // Resume to epoch 2; the flags are taken from the checkpoint.
    let o = vae(&["train", "--resume", "--epochs", "2", "--out", out_s]);
    assert!(o.status.success(), "{}", text(&o));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["seed"], 42);
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for key in ["epoch", "train_loss", "test_loss", "recon", "kl", "seconds"] {
        assert!(epochs[1][key].is_number(), "metrics.json lacks {key}");
    }

    // Another architecture is refused with the reason.
    assert_clean_failure(
        &vae(&["train", "--resume", "--epochs", "3", "--latent-dim", "3", "--out", out_s]),
        "latent_dim 2",
    );

    let ckpt = out.join("checkpoint.safetensors");
    let png = dir.path().join("s.png");
    let o = vae(&["sample", "--checkpoint", ckpt.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(o.status.success() && png.is_file(), "{}", text(&o));
    let png = dir.path().join("r.png");
    let o = vae(&["reconstruct", "--checkpoint", ckpt.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(o.status.success() && png.is_file(), "{}", text(&o));
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // An empty data folder names the missing file.
    assert_clean_failure(&vae(&["train", "--data-dir", d, "--out", d]), "train-images-idx3-ubyte");
    // A truncated image file.
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        [0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2],
    )
    .unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 9]).unwrap();
    assert_clean_failure(&vae(&["train", "--data-dir", d, "--out", d]), "truncated");
    // A file that is not a checkpoint.
    let bogus = dir.path().join("bogus.safetensors");
    std::fs::write(&bogus, b"hello").unwrap();
    assert_clean_failure(
        &vae(&["sample", "--checkpoint", bogus.to_str().unwrap()]),
        "not a valid safetensors checkpoint",
    );
    assert_clean_failure(&vae(&["train", "--lr=-1", "--out", d]), "--lr must be a positive number");
    assert_clean_failure(&vae(&["train", "--device", "tpu", "--out", d]), "unknown --device");
}
