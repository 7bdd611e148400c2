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

#[test]
fn train_help_lists_every_model() {
    let o = vae(&["train", "--help"]);
    assert!(o.status.success(), "{}", text(&o));
    for m in vae_book::cli::MODELS {
        let listed = text(&o).lines().any(|l| l.trim_start().starts_with(m.name) && l.ends_with(m.about));
        assert!(listed, "{} missing from --help: {}", m.name, text(&o));
    }
}

#[test]
fn wrong_model_flag_or_data_names_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_clean_failure(&vae(&["train", "--model", "gan", "--out", d]), "choose one of mlp, likelihood, conv, iwae");
    assert_clean_failure(&vae(&["train", "--model", "conv", "--k", "5", "--out", d]), "--model conv does not take --k");
    assert_clean_failure(
        &vae(&["train", "--model", "text", "--data-dir", d, "--out", d]),
        "--model text does not take --data-dir",
    );
    assert_clean_failure(
        &vae(&["train", "--model", "vrnn", "--data", "sotu", "--out", d]),
        "does not train on --data sotu; choose chorales or mnist-rows",
    );
    assert_clean_failure(&vae(&["train", "--model", "mlp", "--patience", "2", "--out", d]), "does not take --patience");
    assert_clean_failure(&vae(&["train", "--model", "iwae", "--k", "0", "--out", d]), "--k must be at least 1");
    assert_clean_failure(
        &vae(&["train", "--model", "conv", "--patience", "3", "--out", d]),
        "would choose the weights by their test score",
    );
    assert_clean_failure(&vae(&["train", "--model", "text", "--word-dropout", "1.5", "--out", d]), "--word-dropout");
    assert_clean_failure(&vae(&["train", "--model", "text", "--free-bits=-1", "--out", d]), "--free-bits must be");
    assert_clean_failure(&vae(&["train", "--model", "text", "--kl-cycle", "1", "--out", d]), "--kl-cycle must be");
    assert_clean_failure(
        &vae(&["train", "--model", "mlp", "--free-bits", "1", "--out", d]),
        "does not take --free-bits",
    );
    assert_clean_failure(&vae(&["train", "--model", "conv", "--codes", "8", "--out", d]), "does not take --codes");
    assert_clean_failure(
        &vae(&["train", "--model", "vqvae", "--codes", "0", "--out", d]),
        "--codes must be at least 1",
    );
    assert_clean_failure(
        &vae(&["train", "--model", "vqvae", "--commitment", "nan", "--out", d]),
        "--commitment must be a number of at least 0",
    );
    assert_clean_failure(
        &vae(&["train", "--model", "vaegan", "--gamma", "nan", "--out", d]),
        "--gamma must be a number of at least 0",
    );
    assert_clean_failure(
        &vae(&["train", "--model", "classifier", "--gamma", "1", "--out", d]),
        "does not take --gamma",
    );
    assert_clean_failure(&vae(&["train", "--model", "m2", "--labels", "0", "--out", d]), "--labels must be at least 1");
    assert_clean_failure(
        &vae(&["train", "--model", "m2", "--labels", "500", "--train-size", "300", "--out", d]),
        "--labels 500: class 0 has fewer than the 500 images to label",
    );
    assert_clean_failure(&vae(&["train", "--model", "m2", "--alpha=-1", "--out", d]), "--alpha must be a number");
    assert_clean_failure(&vae(&["train", "--model", "cvae", "--labels", "5", "--out", d]), "does not take --labels");
    assert_clean_failure(
        &vae(&["train", "--model", "conv", "--data", "cifar", "--out", d]),
        "does not train on --data cifar; choose mnist or fashion",
    );
    assert_clean_failure(
        &vae(&["train", "--data", "fashion", "--data-dir", d, "--out", d]),
        "--data-dir replaces the embedded digits",
    );
}

#[test]
fn the_likelihood_model_trains_resumes_evaluates_and_refuses_a_stray_sigma() {
    let (dir, ckpt) = train_resume_eval(
        "likelihood",
        &["--likelihood", "learned-gaussian", "--hidden", "32", "--train-size", "256", "--test-size", "64"],
    );
    let o = vae(&["eval", "--checkpoint", ckpt.to_str().unwrap(), "--k", "3"]);
    assert!(text(&o).contains("bits per dimension") && text(&o).contains("sigma of the Gaussian"), "{}", text(&o));
    let d = dir.path().to_str().unwrap();
    assert_clean_failure(
        &vae(&["train", "--model", "likelihood", "--likelihood", "continuous-bernoulli", "--sigma", "0.1", "--out", d]),
        "--likelihood continuous-bernoulli has none",
    );
    assert_clean_failure(
        &vae(&["train", "--model", "likelihood", "--likelihood", "poisson", "--out", d]),
        "unknown --likelihood \"poisson\": choose one of bernoulli",
    );
}

#[test]
fn image_models_train_on_the_embedded_clothes() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["mlp", "conv"] {
        let out = dir.path().join(model);
        let out_s = out.to_str().unwrap();
        let mut args = vec!["train", "--model", model, "--data", "fashion", "--epochs", "1", "--out", out_s];
        args.extend(IMAGES);
        let o = vae(&args);
        assert!(o.status.success(), "{model}: {}", text(&o));
        assert!(
            text(&o).to_lowercase().contains("data: fashion") || text(&o).contains("Fashion-MNIST"),
            "{}",
            text(&o)
        );
        // The checkpoint remembers the data: resuming trains on the clothes again, asking for the digits is refused.
        let o = vae(&["train", "--resume", "--epochs", "2", "--out", out_s]);
        assert!(o.status.success() && text(&o).to_lowercase().contains("fashion"), "{model}: {}", text(&o));
        let needle = if model == "mlp" { "has data fashion, this run asks for mnist" } else { "`--data mnist" };
        assert_clean_failure(&vae(&["train", "--resume", "--epochs", "3", "--data", "mnist", "--out", out_s]), needle);
    }
}

/// `vae train --model NAME` for one epoch, `--resume` to two, `vae eval`, and the metrics schema.
fn train_resume_eval(model: &str, extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap().to_string();
    let mut args = vec!["train", "--model", model, "--epochs", "1", "--out", &out_s];
    args.extend(extra);
    let o = vae(&args);
    assert!(o.status.success(), "{model}: {}", text(&o));
    assert!(text(&o).contains("seed 42") && text(&o).contains(&format!("model {model}")), "{}", text(&o));
    // No --model: the checkpoint says which model to continue.
    let o = vae(&["train", "--resume", "--epochs", "2", "--out", &out_s]);
    assert!(o.status.success(), "{model}: {}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["model"], model);
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2, "{model}: {metrics}");
    for key in ["epoch", "train_loss", "train_terms", "eval", "seconds"] {
        assert!(!epochs[1][key].is_null(), "{model}: metrics.json lacks {key}");
    }
    assert!(epochs[1]["eval"]["loss"].as_f64().unwrap().is_finite());
    let ckpt = out.join("checkpoint.safetensors");
    let o = vae(&["eval", "--checkpoint", ckpt.to_str().unwrap(), "--k", "3"]);
    assert!(o.status.success(), "{model}: {}", text(&o));
    let numbers = ["importance sampled", "exact", "no ELBO", "error rate", "classification error"];
    assert!(numbers.iter().any(|n| text(&o).contains(n)), "{}", text(&o));
    // Resuming as another model is refused by name.
    let other = if model == "conv" { "cvae" } else { "conv" };
    assert_clean_failure(
        &vae(&["train", "--model", other, "--resume", "--epochs", "3", "--out", &out_s]),
        &format!("holds a '{model}' model"),
    );
    (dir, ckpt)
}

const IMAGES: [&str; 4] = ["--train-size", "256", "--test-size", "64"];

#[test]
fn every_image_model_trains_resumes_evaluates_and_draws() {
    for (model, extra) in [
        ("conv", vec![]),
        ("iwae", vec!["--k", "2", "--hidden", "32"]),
        ("cvae", vec!["--hidden", "32"]),
        ("m2", vec!["--hidden", "32", "--latent-dim", "4", "--labels", "3", "--alpha", "0.5"]),
        ("vqvae", vec!["--codes", "16", "--code-dim", "4"]),
        ("vaegan", vec!["--hidden", "32", "--gamma", "2"]),
    ] {
        let mut args = extra.clone();
        args.extend(IMAGES);
        let (dir, ckpt) = train_resume_eval(model, &args);
        assert!(ckpt.parent().unwrap().join("samples.png").is_file(), "{model} draws samples after training");
        let c = ckpt.to_str().unwrap();
        for command in ["sample", "reconstruct"] {
            let png = dir.path().join(format!("{command}.png"));
            let o = vae(&[command, "--checkpoint", c, "--out", png.to_str().unwrap()]);
            assert!(o.status.success() && png.is_file(), "{model} {command}: {}", text(&o));
            let (w, h, levels) = png_stats(&png);
            assert!(w > 100 && h > 50 && levels > 5, "{model} {command}: {w}x{h}, {levels} grey levels");
        }
    }
}

/// `vae sample` and `vae reconstruct` of checkpoint `c` each write a figure into `dir`.
fn draws_figures(model: &str, dir: &std::path::Path, c: &str) {
    for command in ["sample", "reconstruct"] {
        let png = dir.join(format!("{command}.png"));
        let o = vae(&[command, "--checkpoint", c, "--out", png.to_str().unwrap()]);
        assert!(o.status.success() && png.is_file(), "{model} {command}: {}", text(&o));
    }
}

/// β-TCVAE trains on the generated sprites, resumes, reports its MIG and draws its traversals; it
/// takes no other data.
#[test]
fn the_tcvae_trains_on_sprites_and_reports_its_mig() {
    let args = [
        "--hidden",
        "32",
        "--latent-dim",
        "4",
        "--beta",
        "4",
        "--kl-weight",
        "2",
        "--train-size",
        "256",
        "--test-size",
        "128",
    ];
    let (dir, ckpt) = train_resume_eval("tcvae", &args);
    let c = ckpt.to_str().unwrap();
    let o = vae(&["eval", "--checkpoint", c]);
    assert!(o.status.success() && text(&o).contains("MIG of the test means"), "{}", text(&o));
    draws_figures("tcvae", dir.path(), c);
    let out = dir.path().join("other");
    let d = out.to_str().unwrap();
    assert_clean_failure(&vae(&["train", "--model", "tcvae", "--data", "mnist", "--out", d]), "choose sprites");
    assert_clean_failure(&vae(&["train", "--model", "tcvae", "--latent-dim", "1", "--out", d]), "at least 2");
    assert_clean_failure(&vae(&["train", "--model", "tcvae", "--beta=-1", "--out", d]), "--beta must be");
    assert_clean_failure(&vae(&["train", "--model", "tcvae", "--kl-weight=-1", "--out", d]), "--kl-weight must be");
}

/// The heartbeat VAE trains on the embedded ECG, resumes, reports the test AUCs of its two scores
/// and draws beats; it takes no other data and no image flags.
#[test]
fn the_ecg_vae_trains_on_heartbeats_and_scores_the_wide_ones() {
    let (dir, ckpt) = train_resume_eval("ecg", &["--hidden", "16", "--latent-dim", "2"]);
    let c = ckpt.to_str().unwrap();
    let o = vae(&["eval", "--checkpoint", c, "--k", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    for line in ["validation -ELBO", "test AUC of -ELBO", "test AUC of -log p(x), importance sampled with k = 5"] {
        assert!(text(&o).contains(line), "{line}: {}", text(&o));
    }
    draws_figures("ecg", dir.path(), c);
    let out = dir.path().join("other");
    let d = out.to_str().unwrap();
    assert_clean_failure(&vae(&["train", "--model", "ecg", "--data", "mnist", "--out", d]), "choose ecg");
    assert_clean_failure(
        &vae(&["train", "--model", "ecg", "--train-size", "9", "--out", d]),
        "does not take --train-size",
    );
    assert_clean_failure(
        &vae(&["train", "--model", "ecg", "--hidden", "0", "--out", d]),
        "--hidden must be at least 1",
    );
}

/// The world model's V and M train on a random player's episodes of catch, resume, report their
/// held-out losses and draw a game beside M's dream; they take no other data.
#[test]
fn the_world_model_trains_on_a_game_and_dreams_it() {
    let args = ["--hidden", "16", "--latent-dim", "3", "--train-size", "4", "--test-size", "2"];
    let (dir, ckpt) = train_resume_eval("world", &args);
    let c = ckpt.to_str().unwrap();
    let o = vae(&["eval", "--checkpoint", c, "--k", "4"]);
    assert!(o.status.success(), "{}", text(&o));
    for line in ["held-out loss", "next code", "outcome", "importance sampled, k = 4"] {
        assert!(text(&o).contains(line), "{line}: {}", text(&o));
    }
    draws_figures("world", dir.path(), c);
    let out = dir.path().join("other");
    let d = out.to_str().unwrap();
    assert_clean_failure(&vae(&["train", "--model", "world", "--data", "mnist", "--out", d]), "choose catch");
    assert_clean_failure(&vae(&["train", "--model", "world", "--beta", "2", "--out", d]), "does not take --beta");
    assert_clean_failure(
        &vae(&["train", "--model", "world", "--train-size", "0", "--out", d]),
        "--train-size must be at least 1",
    );
}

#[test]
fn the_classifier_trains_and_reports_its_error_rate() {
    let (_dir, ckpt) = train_resume_eval("classifier", &[&["--hidden", "32"][..], &IMAGES[..]].concat());
    let o = vae(&["eval", "--checkpoint", ckpt.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("test error rate"), "{}", text(&o));
}

#[test]
fn the_vq_prior_trains_on_a_trained_vqvae_and_samples_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let small = ["--train-size", "270", "--test-size", "40"];
    assert_clean_failure(
        &vae(&[&["train", "--model", "vq-prior", "--out", d][..], &small].concat()),
        "needs a trained VQ-VAE: run `vae train --model vqvae",
    );
    let (_v, vq) = train_resume_eval("vqvae", &[&small[..], &["--codes", "16", "--code-dim", "4"]].concat());
    let mut args = small.to_vec();
    args.extend(["--hidden", "16", "--vqvae", vq.to_str().unwrap()]);
    let (p, prior) = train_resume_eval("vq-prior", &args);
    let png = p.path().join("sample.png");
    let o = vae(&["sample", "--checkpoint", prior.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("draws ended early"), "{}", text(&o));
    let (w, h, levels) = png_stats(&png);
    assert!(w > 100 && h > 50 && levels > 5, "{w}x{h}, {levels} grey levels");
    let o = vae(&["eval", "--checkpoint", prior.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("test -ELBO of the VQ-VAE with this prior"), "{}", text(&o));
    // The prior must read the images the VQ-VAE trained on.
    assert_clean_failure(
        &vae(&["train", "--model", "vq-prior", "--train-size", "300", "--vqvae", vq.to_str().unwrap(), "--out", d]),
        "was trained on other images",
    );
}

#[test]
fn quadrant_models_train_the_baseline_then_the_cvae() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let small = ["--quadrants", "1", "--hidden", "16", "--train-size", "450", "--test-size", "50"];
    assert_clean_failure(
        &vae(&[&["train", "--model", "quadrant", "--out", d][..], &small].concat()),
        "needs a trained baseline: run `vae train --model quadrant-baseline --quadrants 1",
    );
    let (_b, baseline) = train_resume_eval("quadrant-baseline", &small);
    let mut args = small.to_vec();
    args.extend(["--latent-dim", "4", "--baseline", baseline.to_str().unwrap()]);
    train_resume_eval("quadrant", &args);
    // No --quadrants is --quadrants 2, the default, for the baseline and the CVAE alike.
    let two = ["--hidden", "16", "--train-size", "450", "--test-size", "50", "--epochs", "1"];
    let b2 = dir.path().join("b2");
    let o =
        vae(&[&["train", "--model", "quadrant-baseline", "--quadrants", "2", "--out", b2.to_str().unwrap()][..], &two]
            .concat());
    assert!(o.status.success(), "{}", text(&o));
    let b2_ckpt = b2.join("checkpoint.safetensors");
    let q2 = dir.path().join("q2");
    let args = [
        &["train", "--model", "quadrant", "--baseline", b2_ckpt.to_str().unwrap(), "--out", q2.to_str().unwrap()][..],
        &two,
    ]
    .concat();
    let o = vae(&args);
    assert!(o.status.success(), "{}", text(&o));
    let o = vae(&["train", "--resume", "--quadrants", "2", "--epochs", "1", "--out", q2.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("nothing to train"), "{}", text(&o));
    let o = vae(&["eval", "--checkpoint", q2.join("checkpoint.safetensors").to_str().unwrap(), "--k", "1000000"]);
    assert_clean_failure(&o, "more than 100000 importance samples");
    let other = ["--quadrants", "2", "--hidden", "16", "--train-size", "450", "--baseline", baseline.to_str().unwrap()];
    assert_clean_failure(
        &vae(&[&["train", "--model", "quadrant", "--out", d][..], &other].concat()),
        "was trained on other data",
    );
}

#[test]
fn sequence_and_text_models_train_resume_and_evaluate() {
    let small = ["--hidden", "8", "--latent-dim", "2"];
    train_resume_eval("vrnn", &small);
    train_resume_eval("rnn", &["--hidden", "8", "--data", "mnist-rows"]);
    let (_dir, ckpt) = train_resume_eval("text", &["--hidden", "8", "--latent-dim", "2", "--batch-size", "256"]);
    let o = vae(&["sample", "--checkpoint", ckpt.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 10, "ten sentences: {lines:?}");
    assert!(lines.iter().all(|l| !l.contains("<bos>") && !l.contains("<pad>")), "{lines:?}");
    let o = vae(&["reconstruct", "--checkpoint", ckpt.to_str().unwrap()]);
    assert_clean_failure(&o, "--model text has no `vae reconstruct`");
}

/// `metrics.json` without its wall-clock times.
fn metric_numbers(path: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !k.contains("seconds"));
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    strip(&mut v);
    v
}

/// Kills `vae train` with SIGKILL at seeded random moments, resuming after each kill (once after
/// leaving a torn temporary checkpoint behind, as a kill during a checkpoint write would), and
/// checks that the finished run's numbers equal an uninterrupted run's.
#[test]
fn killed_runs_resume_to_the_numbers_of_an_uninterrupted_run() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let models: [(&str, &[&str]); 2] = [
        ("mlp", &["--hidden", "64", "--latent-dim", "4"]),
        ("cvae", &["--train-size", "3000", "--test-size", "200", "--hidden", "64"]),
    ];
    for (model, small) in models {
        let dir = tempfile::tempdir().unwrap();
        let run = |out: &Path| -> Vec<String> {
            let mut a: Vec<String> = ["train", "--model", model, "--epochs", "12", "--out"].map(String::from).to_vec();
            a.push(out.to_str().unwrap().into());
            a.extend(small.iter().map(|s| s.to_string()));
            a
        };
        let (straight, crashed) = (dir.path().join("straight"), dir.path().join("crashed"));
        let args = run(&straight);
        let start = std::time::Instant::now();
        let o = vae(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", text(&o));
        // Kills land between 2.5% and 17% of an uninterrupted run's time after each (re)start, so
        // that most restarts are killed before they finish.
        let whole = start.elapsed().as_millis() as u64;
        let ckpt = crashed.join("checkpoint.safetensors");
        let mut kills = 0;
        for attempt in 0..8 {
            let mut args = run(&crashed);
            if ckpt.exists() {
                args.push("--resume".into());
            }
            if attempt == 3 && ckpt.exists() {
                // What a kill in the middle of writing leaves: half a temporary file beside the checkpoint.
                let torn = std::fs::read(&ckpt).unwrap();
                std::fs::write(crashed.join("checkpoint.safetensors.tmp"), &torn[..torn.len() / 2]).unwrap();
            }
            let mut child = Command::new(env!("CARGO_BIN_EXE_vae")).args(&args).output_to_null().spawn().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(rng.random_range(whole / 40..whole / 6)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            child.wait().unwrap();
        }
        let mut args = run(&crashed);
        if ckpt.exists() {
            args.push("--resume".into());
        }
        let o = vae(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{model} after {kills} kills: {}", text(&o));
        assert!(kills >= 3, "{model}: only {kills} of 8 runs were still going when killed");
        assert_eq!(
            metric_numbers(&straight.join("metrics.json")),
            metric_numbers(&crashed.join("metrics.json")),
            "{model}: {kills} kills changed the numbers"
        );
    }
}

trait QuietCommand {
    fn output_to_null(&mut self) -> &mut Self;
}

impl QuietCommand for Command {
    fn output_to_null(&mut self) -> &mut Self {
        self.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null())
    }
}
