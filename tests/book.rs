//! The book cannot drift from the code: includes resolve to real code, figures exist, and the
//! numbers in the text are what the code produces.

use std::path::{Path, PathBuf};
use vae_book::report::{self, VaeResults};

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src")
}

fn chapters() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(book_src()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    assert!(out.len() >= 3, "expected SUMMARY, introduction and chapters");
    out
}

/// Every `{{#include path}}` and `{{#include path:anchor}}` names a file, and an anchor names a
/// non-empty region of it (mdbook silently includes nothing for a misspelled anchor).
#[test]
fn includes_resolve_to_non_empty_code() {
    let mut checked = 0;
    for (chapter, text) in chapters() {
        for piece in text.split("{{#include ").skip(1) {
            let spec = piece.split("}}").next().unwrap().trim();
            let (file, anchor) = match spec.rsplit_once(':') {
                Some((f, a)) if !a.chars().all(|c| c.is_ascii_digit() || c == '-') => (f, Some(a)),
                _ => (spec, None),
            };
            let path = chapter.parent().unwrap().join(file);
            let body = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: cannot read include {}: {e}", chapter.display(), path.display()));
            let region = match anchor {
                None => body.as_str(),
                Some(a) => {
                    let start = format!("ANCHOR: {a}\n");
                    let end = format!("ANCHOR_END: {a}");
                    let from =
                        body.find(&start).unwrap_or_else(|| panic!("{}: no anchor '{a}' in {file}", chapter.display()));
                    let rest = &body[from + start.len()..];
                    let to = rest
                        .find(&end)
                        .unwrap_or_else(|| panic!("{}: anchor '{a}' in {file} never ends", chapter.display()));
                    &rest[..to]
                }
            };
            let code_lines = region.lines().filter(|l| !l.trim().is_empty() && !l.contains("ANCHOR")).count();
            assert!(code_lines >= 1, "{}: include {spec} is empty", chapter.display());
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} includes found");
}

/// Every image a chapter shows exists.
#[test]
fn figures_exist() {
    let mut checked = 0;
    for (chapter, text) in chapters() {
        for piece in text.split("src=\"").skip(1) {
            let file = piece.split('"').next().unwrap();
            let path = chapter.parent().unwrap().join(file);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1000, "{}: figure {file} is missing or empty", chapter.display());
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} figures found");
}

fn committed_results() -> VaeResults {
    let path = report::generated_dir(&book_src()).join("vae-results.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The Markdown the chapter includes is exactly what the code renders from the committed results.
#[test]
fn generated_tables_match_their_data() {
    let results = committed_results();
    let dir = report::generated_dir(&book_src());
    assert_eq!(std::fs::read_to_string(dir.join("vae-results.md")).unwrap(), report::results_table(&results));
    assert_eq!(std::fs::read_to_string(dir.join("vae-latent2.md")).unwrap(), report::latent2_summary(&results));
    assert_eq!(std::fs::read_to_string(dir.join("amortization.md")).unwrap(), report::amortization_table(&results));
    assert!(results.amortization.gap() > 0.0, "optimizing each q must not lower the ELBO");
    let (cfg, cfg2) = report::book_configs();
    assert_eq!((&results.config, &results.latent2_config), (&cfg, &cfg2), "results are from the book's configs");
    assert_eq!(results.epochs.len(), cfg.epochs);
}

/// Re-trains the book's two runs and checks the chapter's numbers. On the machine that wrote them
/// they agree bit for bit; other CPUs may round differently in matrix products, hence the margin.
#[test]
fn book_numbers_are_reproduced_by_training() {
    let results = committed_results();
    let (cfg, cfg2) = report::book_configs();
    let dev = candle_core::Device::Cpu;
    for (cfg, expected) in [(cfg, &results.epochs), (cfg2, &results.latent2_epochs)] {
        let trainer = report::run_to_end(cfg, &dev, &mut |_| {}).unwrap();
        for (got, want) in trainer.history.iter().zip(expected) {
            for (name, a, b) in [
                ("test_loss", got.test_loss, want.test_loss),
                ("train_loss", got.train_loss, want.train_loss),
                ("kl", got.kl, want.kl),
            ] {
                assert!((a - b).abs() < 0.5, "epoch {} {name}: trained {a:.3}, book says {b:.3}", got.epoch);
            }
        }
    }
}

/// The VI chapter's tables are exactly what the code computes now (its experiments are seeded and
/// take a fraction of a second).
#[test]
fn vi_tables_match_a_fresh_run() {
    let results = report::vi_results().unwrap();
    let dir = report::generated_dir(&book_src());
    for (name, text) in report::vi_tables(&results) {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(committed, text, "{name} is stale: run `cargo run --release -- figures`");
    }
}

/// The pixel facts of the likelihood section are what the code computes from the data.
#[test]
fn likelihood_table_matches_the_data() {
    let committed = std::fs::read_to_string(report::generated_dir(&book_src()).join("likelihoods.md")).unwrap();
    assert_eq!(committed, report::likelihood_table().unwrap());
}

/// The Bayes chapter's tables are exactly what the code computes now.
#[test]
fn bayes_tables_match_a_fresh_run() {
    let dir = report::generated_dir(&book_src());
    for (name, text) in report::bayes_tables() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(committed, text, "{name} is stale: run `cargo run --release -- figures`");
    }
}

/// The Gaussian-mixture tables of the Bayes chapter are what EM computes now.
#[test]
fn mixture_tables_match_a_fresh_run() {
    let dir = report::generated_dir(&book_src());
    for (name, text) in report::mixture::tables(&report::mixture::fits()) {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(committed, text, "{name} is stale: run `cargo run --release -- figures --chapter bayes`");
    }
}

/// The logistic-regression tables of the VI chapter are what HMC and VI compute now (about 7 s).
#[test]
fn logistic_tables_match_a_fresh_run() {
    let results = report::logistic::results().unwrap();
    let [a, b] = &results.chains;
    assert!(a.acceptance > 0.6 && b.acceptance > 0.6, "acceptance {} {}", a.acceptance, b.acceptance);
    let (elbo, se) = results.elbo;
    assert!(elbo + 3.0 * se < results.log_evidence.0, "ELBO {elbo} must stay below log p(y)");
    let dir = report::generated_dir(&book_src());
    for (name, text) in report::logistic::tables(&results) {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(committed, text, "{name} is stale: run `cargo run --release -- figures --chapter vi`");
    }
}
