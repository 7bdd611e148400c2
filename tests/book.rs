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
    // Exactly (to the float's printing) on a CPU that does the book's arithmetic; elsewhere the
    // matrix library adds in another order and 10 epochs end a few hundredths of a nat away.
    let tol = if report::same_arithmetic_as_the_book() { 1e-3 } else { 0.2 };
    for (cfg, expected) in [(cfg, &results.epochs), (cfg2, &results.latent2_epochs)] {
        let trainer = report::run_to_end(cfg, &dev, &mut |_| {}).unwrap();
        for (got, want) in trainer.history.iter().zip(expected) {
            for (name, a, b) in [
                ("test_loss", got.test_loss, want.test_loss),
                ("train_loss", got.train_loss, want.train_loss),
                ("kl", got.kl, want.kl),
            ] {
                assert!((a - b).abs() < tol, "epoch {} {name}: trained {a:.4}, book says {b:.4}", got.epoch);
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
    for (name, text) in report::mixture::tables(&report::mixture::fits().unwrap()).unwrap() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(committed, text, "{name} is stale: run `cargo run --release -- figures --chapter bayes`");
    }
}

/// The samples figure's caption: two drawn flowers have a negative petal width.
#[test]
fn two_sampled_flowers_have_a_negative_width() {
    let fits = report::mixture::fits().unwrap();
    let (_, fit, _) = fits.iter().find(|(k, _, _)| *k == 3).unwrap();
    let drawn = report::mixture::drawn(fit, report::mixture::petals().unwrap().len());
    assert_eq!(drawn.iter().filter(|(x, _)| x[1] < 0.0).count(), 2);
    // Both from component 2, the one on the setosa petals (the shortest, under 2 cm).
    assert!(drawn.iter().filter(|(x, _)| x[1] < 0.0).all(|(_, k)| *k == 1));
    assert!(fit.mixture.components[1].mean[0] < 2.0);
    let text = std::fs::read_to_string(book_src().join("bayes.md")).unwrap();
    assert!(
        text.contains(
            "a draw from the setosa component (component 2, orange here) can fall below zero, as two do here"
        )
    );
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
    // What the chapter says about these runs: "a few thousand" VI steps, "about a hundred thousand"
    // gradient evaluations per HMC chain, and the three predictives one test case apart.
    use report::logistic::{HMC, TEST_ROWS, VI_SAMPLES, VI_STEPS};
    assert!((1000..10_000).contains(&VI_STEPS) && (10_000..100_000).contains(&(VI_STEPS * VI_SAMPLES)));
    assert!((70_000..150_000).contains(&((HMC.warmup + HMC.draws) * HMC.leapfrog_steps)));
    let scores = report::logistic::predictive_scores(&results);
    let right: Vec<usize> = scores.iter().map(|s| (s.2 * TEST_ROWS as f64).round() as usize).collect();
    assert_eq!((right[0], right[2]), (right[1], right[1] + 1), "MAP = VI, HMC one more: {scores:?}");
    assert!(scores[2].1 < scores[0].1 && scores[2].1 < scores[1].1, "HMC's log p is the lowest: {scores:?}");
    let chapter = std::fs::read_to_string(book_src().join("vi.md")).unwrap();
    assert!(chapter.contains(&format!("One case in {TEST_ROWS} is well within the noise")));
}

/// The latent-space chapter's tables are rendered from its committed results.
#[test]
fn latent_space_tables_match_their_data() {
    let dir = report::generated_dir(&book_src());
    let results: report::latent_space::LatentSpaceResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("latent-space.json")).unwrap()).unwrap();
    assert_eq!(results.config, report::latent_space::LatentSpaceConfig::book());
    for (name, text) in report::latent_space::tables(&results) {
        assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), text, "{name} is stale");
    }
    // What the chapter's text says about these numbers.
    for d in &results.dims {
        assert_eq!(d.active_units, d.latent_dim, "every unit active");
        let vae_wins = d.vae_sq_error < d.pca_sq_error;
        assert_eq!(vae_wins, d.latent_dim <= 20, "VAE beats PCA up to 20 dimensions, not at 50: {d:?}");
    }
    // The features paragraph: codes beat pixels with few labels by more than the spread over
    // seeds, VAE and PCA codes are within one standard deviation, all close with every label.
    let mean_sd = report::mean_sd;
    let f = &results.features;
    for (budget, gain) in [(&f[0], 5.0), (&f[1], 2.5)] {
        let ((px, px_sd), (pca, pca_sd), (vae, vae_sd)) =
            (mean_sd(&budget.pixels), mean_sd(&budget.pca), mean_sd(&budget.vae));
        for (code, sd) in [(pca, pca_sd), (vae, vae_sd)] {
            assert!(100.0 * (code - px) > gain && code - px > 2.5 * sd.max(px_sd), "codes gain on pixels: {budget:?}");
        }
        assert!((vae - pca).abs() < vae_sd.max(pca_sd), "VAE and PCA within a standard deviation: {budget:?}");
    }
    let (gain_100, gain_1000) =
        (mean_sd(&f[0].vae).0 - mean_sd(&f[0].pixels).0, mean_sd(&f[1].vae).0 - mean_sd(&f[1].pixels).0);
    assert!((0.055..0.065).contains(&gain_100) && (0.025..0.035).contains(&gain_1000), "about six and three points");
    let last: Vec<f64> = [&f[2].pixels, &f[2].pca, &f[2].vae].iter().map(|v| mean_sd(v).0).collect();
    let range = last.iter().cloned().fold(f64::MIN, f64::max) - last.iter().cloned().fold(f64::MAX, f64::min);
    assert!(f[2].labels == 9000 && range < 0.015, "within a point and a half with every label: {last:?}");
    // The neighbours figure: latent neighbours are wrong more often than pixel ones in its rows.
    let n = &results.neighbours;
    assert!(n.latent_same < n.pixels_same && n.shown == 24, "{n:?}");
    let chapter = std::fs::read_to_string(book_src().join("latent-space.md")).unwrap();
    assert!(chapter.contains("{{#include generated/latent-neighbours.md}}"));
    let a = &results.anomaly;
    let auc = |v: &[f64]| mean_sd(v).0;
    assert!(
        a[1].auc_elbo.iter().all(|&x| x < 0.5)
            && a[1].neg_elbo_anomalous.iter().zip(&a[1].neg_elbo_normal).all(|(held, others)| held < others),
        "unseen 1s score better with every seed: {:?}",
        a[1]
    );
    assert!(auc(&a[0].auc_elbo) > 0.85 && auc(&a[2].auc_elbo) > 0.85);
    for x in a {
        let iw_close = x.auc_iw.iter().zip(&x.auc_elbo).all(|(iw, elbo)| (iw - elbo).abs() < 0.03);
        assert!(iw_close, "the IW score ranks like the ELBO: {x:?}");
        assert!(mean_sd(&x.auc_elbo).1 < 0.02, "spreads small beside the differences between digits: {x:?}");
    }
    let mean_of = |f: fn(&report::latent_space::AnomalyResult) -> f64| a.iter().map(f).sum::<f64>() / a.len() as f64;
    let (pca, elbo) = (mean_of(|x| x.auc_pca), mean_of(|x| report::mean_sd(&x.auc_elbo).0));
    let without_ones = |f: fn(&report::latent_space::AnomalyResult) -> f64| {
        a.iter().filter(|x| x.digit != 1).map(f).sum::<f64>() / (a.len() - 1) as f64
    };
    assert!(pca > elbo && pca - elbo < 0.03, "PCA's error scores a little better on average: {pca} vs {elbo}");
    for x in a {
        let gap = (report::mean_sd(&x.auc_iw).0 - report::mean_sd(&x.auc_elbo).0).abs();
        assert!(gap < 0.015, "the IW AUC within 0.015 of the ELBO's: {x:?}");
    }
    let tied: Vec<f64> = [3, 5, 6].iter().map(|&d| report::mean_sd(&a[d].auc_elbo).0).collect();
    let spread_of_tied = tied.iter().cloned().fold(f64::MIN, f64::max) - tied.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread_of_tied < 0.015, "3, 5 and 6 about equal: {tied:?}");
    let c = &results.config;
    let trainings = c.dims.len() + (c.seeds.len() - 1) + 10 * c.seeds.len();
    assert!(chapter.contains(&format!("({trainings} trainings, about two minutes")), "{trainings} trainings");
    assert!(
        without_ones(|x| x.auc_pca) < without_ones(|x| report::mean_sd(&x.auc_elbo).0),
        "mostly because of the 1s: without them the ELBO wins"
    );
    let i = &results.interpolation;
    assert!((i.code_norm - i.prior_norm).abs() < 0.15 * i.prior_norm, "{i:?}");
    assert!(i.lerp_mid_norm < 0.8 * i.code_norm && (i.slerp_mid_norm - i.code_norm).abs() < 0.1 * i.code_norm);
}

/// The latent-space experiments run end to end in their small configuration, with sane numbers.
#[test]
fn latent_space_quick_run_is_sane() {
    let cfg = report::latent_space::LatentSpaceConfig::quick();
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::latent_space::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(written.len(), 5);
    assert!(r.dims[0].pca_sq_error > r.dims[1].pca_sq_error, "more components, less error");
    // After two epochs the codes are still poor features, but far above chance (10%).
    let all_above = |v: &[f64], floor: f64| v.len() == cfg.seeds.len() && v.iter().all(|&x| x > floor);
    assert!(r.features.iter().all(|f| all_above(&f.pixels, 0.5) && all_above(&f.pca, 0.5) && all_above(&f.vae, 0.2)));
    assert_eq!(r.anomaly.len(), 10);
    assert!(r.anomaly.iter().all(|a| a.auc_elbo.iter().all(|x| (0.0..=1.0).contains(x))));
    // Unseen zeros are the easiest anomaly even after two epochs.
    assert!(r.anomaly[0].auc_elbo.iter().all(|&x| x > 0.8), "{:?}", r.anomaly[0]);
    // A seed list that does not start with the training seed is refused.
    let bad = report::latent_space::LatentSpaceConfig { seeds: vec![7], ..cfg };
    assert!(report::latent_space::run(&bad, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).is_err());
}

/// The beta-VAE table is rendered from its committed results, which say what the chapter says.
#[test]
fn beta_vae_table_matches_its_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::beta_vae::BetaResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("beta-vae.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::beta_vae::BetaConfig::book());
    assert_eq!(std::fs::read_to_string(dir.join("beta-vae.md")).unwrap(), report::beta_vae::table(&r));
    for w in r.runs.windows(2) {
        assert!(w[1].rate < w[0].rate && w[1].distortion > w[0].distortion, "rate falls, distortion rises");
        // Fewer units share the variance: the least active unit's variance falls with beta.
        assert!(w[1].mean_variances.last() < w[0].mean_variances.last());
    }
    let best = r.runs.iter().min_by(|a, b| a.neg_elbo().total_cmp(&b.neg_elbo())).unwrap();
    assert_eq!(best.beta, 1.0, "beta = 1 targets the ELBO");
    // "Only at the largest beta does a unit switch off entirely."
    let (last, rest) = r.runs.split_last().unwrap();
    assert!(last.active_units < 20 && rest.iter().all(|run| run.active_units == 20));
}

/// A short beta-VAE sweep runs and orders the rates by beta.
/// The hidden-β pitfall: `batch_size / N` with this chapter's settings, beside its smallest β.
#[test]
fn beta_vae_hidden_beta_is_what_the_chapter_says() {
    let cfg = report::beta_vae::BetaConfig::book();
    let n = vae_book::data::Mnist::embedded().unwrap().train.len();
    let hidden = cfg.train.batch_size as f64 / n as f64;
    let smallest = cfg.betas.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(hidden < smallest / 10.0);
    let text = std::fs::read_to_string(book_src().join("beta-vae.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = format!(
        "With this chapter's batch of {} and {} training digits that is a β of about {hidden:.3}, far below the smallest β above ({smallest})",
        cfg.train.batch_size,
        report::thousands(n)
    );
    assert!(text.contains(&says), "the chapter must say: {says}");
}

#[test]
fn beta_vae_quick_run_orders_rates() {
    let cfg = report::beta_vae::BetaConfig { betas: vec![0.5, 4.0], ..report::beta_vae::BetaConfig::quick() };
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::beta_vae::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(written.len(), 4);
    assert!(r.runs[1].rate < r.runs[0].rate, "{:?}", r.runs);
}

/// The IWAE tables are rendered from their committed results, which say what the chapter says.
#[test]
fn iwae_tables_match_their_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::iwae::BoundsResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("iwae.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::iwae::BoundsConfig::book());
    for (name, text) in report::iwae::tables(&r) {
        assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), text, "{name} is stale");
    }
    for run in &r.runs {
        for w in run.test_bounds.windows(2) {
            assert!(w[0].1 < w[1].1, "k = {}: L_k must rise with k: {:?}", run.train_k, run.test_bounds);
        }
        // Exercise 3 says every model uses all of its 20 units.
        assert_eq!(run.active_units, 20, "k = {}", run.train_k);
    }
    // Trained with more samples: a better log p(x) estimate, a looser ELBO.
    for w in r.runs.windows(2) {
        let (a, b) = (&w[0].test_bounds, &w[1].test_bounds);
        assert!(b.last().unwrap().1 > a.last().unwrap().1 && b[0].1 < a[0].1, "{a:?} then {b:?}");
    }
}

/// The conv-VAE table is rendered from its committed results, which say what the chapter says.
#[test]
fn conv_vae_table_matches_its_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::conv::ConvResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("conv-vae.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::conv::ConvConfig::book());
    assert_eq!(std::fs::read_to_string(dir.join("conv-vae.md")).unwrap(), report::conv::table(&r));
    assert!(r.conv_test > r.mlp_test && r.conv_parameters < r.mlp_parameters, "the MLP wins, with more parameters");
    // The chapter's words with line breaks as spaces, so that rewrapping does not matter.
    let text = std::fs::read_to_string(book_src().join("conv-vae.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // "20.0 nats behind the MLP after 10 epochs and 22.6 after 30"
    let gap = |e: usize| r.conv_curve[e - 1] - r.mlp_curve[e - 1];
    let said = format!("{:.1} nats behind the MLP after 10 epochs and {:.1} after 30", gap(10), gap(30));
    assert!(text.contains(&said) && gap(30) > gap(10), "the chapter must say: {said}");
    // "both curves still fall by about two nats over their last ten epochs"
    for curve in [&r.mlp_curve, &r.conv_curve] {
        let fall = curve[19] - curve[29];
        assert!((1.5..2.5).contains(&fall), "last ten epochs fell {fall}");
    }
    // "At equal training time it is further behind, by 48 nats": an epoch "costs as much time as 14
    // of the MLP's" (timings vary between runs; the number said is the one measured).
    let ratio = r.conv_seconds_per_epoch / r.mlp_seconds_per_epoch;
    let at = (ratio as usize).clamp(1, r.mlp_curve.len());
    let behind = r.conv_curve[0] - r.mlp_curve[at - 1];
    assert!(text.contains(&format!("further behind, by {behind:.0} nats")) && behind > gap(30), "{behind}");
    let said = format!("costs as much time as {} of the MLP's", ratio as usize);
    assert!(text.contains(&said) && ratio > 5.0, "the chapter must say: {said}");
    assert!(text.contains("costs more than ten of the MLP's") && ratio > 10.0, "the summary: {ratio}");
    // The exercise quotes the VAE chapter's 20-D run.
    let vae = committed_results().epochs.last().unwrap().test_loss;
    let said = format!("20-D run reaches {vae:.2} after 10 epochs");
    assert!(text.contains(&said), "the exercise must say: {said}");
    // The codes on a line: both units pass the variance test, move together, one live unit.
    assert_eq!((r.mlp_active, r.conv_active, r.conv_live_features), (2, 2, 1));
    let (c, m) = (r.conv_code_correlation, r.mlp_code_correlation);
    let said = format!("the correlation under the table is {c:.3}, against {m:.2} for the MLP");
    assert!(text.contains(&said.replace('-', "−")), "the chapter must say: {said}");
    assert!(r.conv_code_correlation.abs() > 0.999 && r.mlp_code_correlation.abs() < 0.5);
}

/// The CVAE table is rendered from its committed results, which say what the chapter says.
#[test]
fn cvae_table_matches_its_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::cvae::ConditionalResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cvae.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::cvae::ConditionalConfig::book());
    assert_eq!(std::fs::read_to_string(dir.join("cvae.md")).unwrap(), report::cvae::table(&r));
    assert!(r.cvae_test < r.vae_test, "the label saves the code nats");
    // The chapter: the gap between the bounds is "about ten times" ln 10, the most the label can explain.
    let ratio = (r.vae_test - r.cvae_test) / 10f64.ln();
    assert!((8.0..13.0).contains(&ratio), "gap / ln 10 = {ratio}");
    assert!(r.sample_accuracy > 0.95, "almost all samples carry their label: {}", r.sample_accuracy);
}

/// The quadrant-completion table is rendered from its committed results, which say what the chapter says.
#[test]
fn quadrants_table_matches_its_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::quadrants::QuadrantsResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("quadrants.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::quadrants::QuadrantsConfig::book());
    // "The -ELBO ordering agrees with Pyro's at one and two quadrants; at three it does not, within about a nat."
    for (run, (pyro_baseline, pyro_cvae)) in r.runs.iter().zip(report::quadrants::PYRO) {
        let (ours, pyros) = (run.scores.cvae_elbo < run.scores.baseline, pyro_cvae < pyro_baseline);
        assert_eq!(ours == pyros, run.quadrants < 3, "{} quadrants: {:?}", run.quadrants, run.scores);
        if run.quadrants == 3 {
            assert!(
                (run.scores.cvae_elbo - run.scores.baseline).abs() < 1.5 && (pyro_cvae - pyro_baseline).abs() < 1.5
            );
        }
    }
    // The sizes the chapter's prose names.
    let c = &r.config;
    assert_eq!((c.model.hidden, c.model.latent_dim, c.schedule.patience, c.schedule.max_epochs), (500, 200, 3, 101));
    assert_eq!((c.valid_size, c.samples, r.train_images, r.test_images), (1000, 100, 8000, 1000));
    assert_eq!(std::fs::read_to_string(dir.join("quadrants.md")).unwrap(), report::quadrants::table(&r));
    let lead: Vec<f64> = r.runs.iter().map(|q| q.scores.baseline - q.scores.cvae_importance).collect();
    assert!(lead.iter().all(|&l| l > 0.0), "the CVAE wins in every setting: {lead:?}");
    assert!(lead.windows(2).all(|w| w[1] < w[0]), "its lead shrinks as more is shown: {lead:?}");
    for q in &r.runs {
        let s = &q.scores;
        assert!(s.cvae_importance < s.cvae_elbo, "importance sampling beats the bound: {s:?}");
        assert!(s.cvae_prior_mc > s.cvae_importance, "the prior is the worse proposal: {s:?}");
        assert!([s.baseline, s.cvae_elbo, s.cvae_importance, s.cvae_prior_mc].iter().all(|&v| v > s.floor));
        assert!(q.baseline_fit.best_epoch > 0 && q.cvae_fit.best_epoch > 0);
    }
    let three = &r.runs[2].scores;
    assert!(three.cvae_elbo > three.baseline && three.cvae_importance < three.baseline, "{three:?}");
    // Every run stopped early, after 16 to 54 epochs.
    let runs: Vec<usize> = r.runs.iter().flat_map(|q| [q.baseline_fit.valid.len(), q.cvae_fit.valid.len()]).collect();
    assert!(runs.iter().all(|&n| n < r.config.schedule.max_epochs), "{runs:?}");
    let chapter = std::fs::read_to_string(book_src().join("cvae.md")).unwrap();
    let text = chapter.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter does not say {s:?}");
    says(format!("after {} to {} epochs", runs.iter().min().unwrap(), runs.iter().max().unwrap()));
    // How far we are from Pyro's numbers, and the three-quadrant verdicts.
    let gaps = |f: &dyn Fn(&report::quadrants::QuadrantResult, (f64, f64)) -> f64| -> (f64, f64) {
        let g: Vec<f64> = r.runs.iter().zip(report::quadrants::PYRO).map(|(q, p)| f(q, p)).collect();
        (g.iter().cloned().fold(f64::MAX, f64::min), g.iter().cloned().fold(f64::MIN, f64::max))
    };
    let (lo, hi) = gaps(&|q, p| q.scores.cvae_elbo - p.1);
    let (blo, bhi) = gaps(&|q, p| q.scores.baseline - p.0);
    says(format!(
        "by {:.0} to {:.0} nats for the CVAE's bound and {:.0} to {:.0} for the baseline",
        lo.floor(),
        hi.floor(),
        blo.floor(),
        bhi.floor()
    ));
    let (pyro_b, pyro_c) = report::quadrants::PYRO[2];
    says(format!("(the CVAE's {:.2} nats worse)", three.cvae_elbo - three.baseline));
    says(format!("Pyro's CVAE bound is {:.1} nats better than its", pyro_b - pyro_c));
    says(format!("puts the CVAE about {:.1} nats ahead", three.baseline - three.cvae_importance));
    // The held-out digits (the last 1,000 training digits) hold no 5s and many 1s and 7s.
    let train = vae_book::data::Mnist::embedded().unwrap().train;
    let held_out = &train.labels[train.len() - r.valid_images..];
    let count = |d: u8| held_out.iter().filter(|&&l| l == d).count();
    assert!(count(5) == 0 && count(1) > 150 && count(7) > 150, "{:?}", (0..10).map(count).collect::<Vec<_>>());
    says("they hold no 5s and many 1s and 7s".to_string());
    assert_eq!(format!("{:.1}", three.cvae_elbo), format!("{:.1}", three.baseline), "equal to a tenth of a nat");
    let spread = |v: &[f64]| {
        let tail = &v[v.len() - 4..];
        tail.iter().cloned().fold(f64::MIN, f64::max) - tail.iter().cloned().fold(f64::MAX, f64::min)
    };
    let q3 = &r.runs[2];
    let (s1, s2) = (spread(&q3.baseline_fit.valid), spread(&q3.cvae_fit.valid));
    assert!(s1 > 0.2 && s2 > 0.2 && s1 < 0.35 && s2 < 0.35, "a quarter of a nat: {s1} {s2}");
    assert!((three.cvae_elbo - three.baseline).abs() < s1.min(s2) / 2.0);
}

/// The quadrant experiments run end to end in their small configuration.
#[test]
fn quadrants_quick_run_is_sane() {
    let cfg = report::quadrants::QuadrantsConfig::quick();
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::quadrants::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(written.len(), 3);
    assert!(written.iter().all(|p| p.exists()));
    assert_eq!((r.train_images, r.valid_images, r.test_images), (800, 200, 100));
    // More shown, less to predict: every score falls with the number of quadrants.
    for w in r.runs.windows(2) {
        assert!(w[1].scores.baseline < w[0].scores.baseline && w[1].scores.floor < w[0].scores.floor);
    }
}

/// The sequence table is rendered from its committed results, which say what the chapter says.
#[test]
fn sequences_table_matches_its_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::sequences::SequencesResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sequences.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::sequences::SequencesConfig::book());
    // The sizes the chapter's prose names.
    let m = r.config.chorale_model;
    assert_eq!((m.input_dim, m.feature, m.hidden, m.latent_dim), (46, 64, 128, 16));
    assert_eq!((r.config.prefix_beats, r.config.row_model.hidden), (16, 128));
    assert_eq!(std::fs::read_to_string(dir.join("sequences.md")).unwrap(), report::sequences::table(&r));
    assert_eq!((r.chorales.train_sequences, r.chorales.test_sequences), (208, 87));
    for s in [&r.chorales, &r.rows] {
        assert!(s.vrnn_elbo() < s.rnn_nll, "the VRNN's bound alone beats the GRU: {s:?}");
        assert!(s.vrnn_importance < s.vrnn_elbo(), "importance sampling tightens the bound");
        assert!(s.vrnn_kl > 0.05, "no posterior collapse: the codes carry information");
    }
    // A chorale's first beat is news; later ones are partly predicted by the past.
    let kl = &r.chorales.kl_by_step;
    assert!(kl[0] > kl[1..64].iter().cloned().fold(0.0, f64::max), "{:?}", &kl[..5]);
    // A digit's top rows are blank in every image: nothing to encode until the strokes begin.
    let kl = &r.rows.kl_by_step;
    let peak = (0..kl.len()).max_by(|&a, &b| kl[a].total_cmp(&kl[b])).unwrap();
    assert!(kl[0] < 0.05 && (3..10).contains(&peak), "{kl:?}");
    assert!(r.chorales.vrnn_importance > report::sequences::PYRO_DMM, "the DMM's number is not beaten here");
    // The DMM's numbers are bounds: the chapter says so and points at the -ELBO column.
    assert!(r.chorales.vrnn_elbo() > report::sequences::KRISHNAN_DMM.max(report::sequences::PYRO_DMM));
    let chapter = std::fs::read_to_string(book_src().join("sequences.md")).unwrap();
    let quoted = format!(
        "negative ELBO of {} nats per beat on the JSB chorales' test\nset (Krishnan et al. 2017 report {}, also a bound",
        report::sequences::PYRO_DMM,
        report::sequences::KRISHNAN_DMM
    );
    assert!(chapter.contains(&quoted), "the chapter does not say {quoted:?}");
    let text = chapter.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter does not say {s:?}");
    let (c, d) = (&r.chorales, &r.rows);
    says(format!(
        "by {:.2} nats per beat on the chorales and {:.2} nats per row on the digits",
        c.rnn_nll - c.vrnn_elbo(),
        d.rnn_nll - d.vrnn_elbo()
    ));
    says(format!(
        "({:.2} and {:.2} nats per step)",
        c.vrnn_elbo() - c.vrnn_importance,
        d.vrnn_elbo() - d.vrnn_importance
    ));
    // No run reached its cap: each stopped on its validation loss.
    for (s, cap) in [(c, r.config.chorale_schedule.max_epochs), (d, r.config.row_schedule.max_epochs)] {
        assert!(s.rnn_fit.valid.len() < cap && s.vrnn_fit.valid.len() < cap, "a run reached its cap of {cap}");
    }
    // The chorale VRNN stopped by overfitting: training still falling, validation turned up.
    let f = &c.vrnn_fit;
    let (best, last) = (f.valid[f.best_epoch - 1], *f.valid.last().unwrap());
    assert!(last > best && f.train.last().unwrap() < &f.train[f.best_epoch - 1], "{f:?}");
    says(format!("({:.2} nats per beat at its last epoch)", f.train.last().unwrap()));
    says(format!("({best:.2} at its best epoch, {last:.2} at its last)"));
    says(format!("with only {} training chorales", c.train_sequences));
    says(format!("where ours stopped early after {}.", f.valid.len()));
    assert!((best - f.train.last().unwrap() - 0.9).abs() < 0.1, "about 0.9 nats above the training loss");
    says("a skewed sample (no 5s, many 1s and 7s".to_string());
    assert_eq!(r.config.row_valid, 1000);
}

/// An `{{#include}}` inside an indented fence (a list item) breaks out of it: mdbook does not indent
/// the included lines, so the code would render as text. Listings start at the left margin.
#[test]
fn included_listings_are_not_indented() {
    for (chapter, text) in chapters() {
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("{{#include") && trimmed.len() != line.len() {
                panic!("{}:{}: an indented include: {line}", chapter.display(), i + 1);
            }
        }
    }
}

/// Every chapter of the book's table of contents runs its Rust blocks as doctests.
#[test]
fn every_chapter_is_a_doctest() {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for file in summary.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
        if file != "introduction.md" {
            let include = format!("include_str!(\"../book/src/{file}\")");
            assert!(lib.contains(&include), "{file} is in SUMMARY.md but not a doctest in src/lib.rs");
        }
    }
}

/// The likelihood chapter's table is what its data says, and the prose's claims hold.
#[test]
fn likelihoods_table_matches_its_data() {
    use report::likelihoods::{LikelihoodsConfig, LikelihoodsResults};
    use vae_book::models::likelihood::Likelihood;
    let dir = report::generated_dir(&book_src());
    let r: LikelihoodsResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("likelihoods-trained.json")).unwrap()).unwrap();
    assert_eq!(r.config, LikelihoodsConfig::book());
    assert_eq!(std::fs::read_to_string(dir.join("likelihoods-trained.md")).unwrap(), report::likelihoods::table(&r));
    let chapter = std::fs::read_to_string(book_src().join("likelihoods.md")).unwrap();
    let text = chapter.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter does not say {s:?}");
    let find = |d: usize, l: Likelihood, mean: bool| {
        r.data[d].variants.iter().find(|v| v.likelihood == l && v.pixel_mean == mean).unwrap().clone()
    };
    let px = r.data[0].pixels;
    let bits = |d: usize, l: Likelihood| find(d, l, false).bits_per_dim(px).unwrap();
    let (b, g1, gl, cb) =
        (Likelihood::Bernoulli, Likelihood::Gaussian, Likelihood::LearnedGaussian, Likelihood::ContinuousBernoulli);
    // The sizes and run the prose names; digits first, then clothes.
    let m = r.config.variants[0].model.model;
    assert_eq!((m.latent_dim, r.config.run.epochs), (20, 20));
    assert_eq!((r.data[0].data.name(), r.data[1].data.name()), ("mnist", "fashion"));
    // Sigma 1: worse than a flat density (8 bits), and the smallest KL of the trained models.
    says(format!("At {:.2} bits per dimension on the digits ({:.2} on the clothes)", bits(0, g1), bits(1, g1)));
    assert!(bits(0, g1) > 8.0 && bits(1, g1) > 8.0);
    says(format!(
        "the code carries {:.1} nats per image where the Bernoulli's carries {:.1}",
        find(0, g1, false).kl,
        find(0, b, false).kl
    ));
    // No sigma-1 Gaussian can beat (ln(2 pi) / 2 + ln 256) / ln 2 bits per dimension.
    let floor = (0.5 * (2.0 * std::f64::consts::PI).ln() + 256f64.ln()) / std::f64::consts::LN_2;
    says(format!("which is {floor:.2} bits per dimension however good the means are"));
    assert!(bits(0, g1) > floor && bits(1, g1) > floor);
    // The Gaussians cost about the same on both data sets.
    assert!((bits(0, g1) - bits(1, g1)).abs() < 0.05 && (bits(0, gl) - bits(1, gl)).abs() < 0.05);
    says(format!(
        "the more the codes carry ({:.1} nats here against {:.1})",
        find(0, cb, false).kl,
        find(0, g1, false).kl
    ));
    // Adam's pace on a scalar: ln(1 / sigma) / lr steps, against the steps of the whole run.
    let sigma = find(0, gl, false).sigma.unwrap();
    let steps = ((1.0 / sigma).ln() / r.config.run.lr / 50.0).round() as usize * 50;
    let run_steps = r.config.run.epochs * 9000usize.div_ceil(r.config.run.batch_size);
    says(format!(
        "from $\\sigma = 1$ to the $\\sigma = {sigma:.3}$ fitted below, $\\log\\sigma$ must fall by $\\ln(1/\\sigma) \\approx {:.2}$, some {},{:03} steps, more than the {},{:03} of a whole 20-epoch run",
        (1.0 / sigma).ln(),
        steps / 1000,
        steps % 1000,
        run_steps / 1000,
        run_steps % 1000
    ));
    assert!(steps > run_steps);
    // Fitting sigma: the fitted value, bits and KL; the continuous Bernoulli best of the densities.
    let (fit0, fit1) = (find(0, gl, false), find(1, gl, false));
    says(format!(
        "The fitted standard deviation is {:.3} on the digits ({:.3} on the clothes)",
        fit0.sigma.unwrap(),
        fit1.sigma.unwrap()
    ));
    says(format!(
        "reaches {:.2} bits per dimension, its code carries {:.1} nats (more than the Bernoulli's)",
        bits(0, gl),
        fit0.kl
    ));
    assert!(fit0.kl > find(0, b, false).kl);
    says(format!("{:.2} bits per dimension on the digits and {:.2} on the clothes", bits(0, cb), bits(1, cb)));
    says(format!("under the continuous Bernoulli ({:.2} against {:.2} bits per dimension)", bits(1, cb), bits(0, cb)));
    says(format!("Its code carries the most, {:.1} nats", find(0, cb, false).kl));
    for d in 0..2 {
        assert!(bits(d, cb) < bits(d, gl) && bits(d, gl) < 8.0 && bits(d, gl) < bits(d, g1), "data {d}");
        let kls: Vec<f64> = r.data[d].variants.iter().filter(|v| !v.pixel_mean).map(|v| v.kl).collect();
        assert_eq!(
            kls.iter().cloned().fold(0.0, f64::max),
            find(d, cb, false).kl,
            "the continuous Bernoulli's KL is the largest"
        );
        assert!(bits(1, cb) > bits(0, cb), "clothes cost more");
        let nats = |d: usize, l: Likelihood| find(d, l, false).neg_elbo();
        assert!(
            nats(1, b) > nats(0, b)
                && nats(1, Likelihood::BinarizedBernoulli) > nats(0, Likelihood::BinarizedBernoulli)
        );
    }
    // The Bernoullis: bits per binary pixel, and the grey one's floor.
    let bin = |d: usize| find(d, Likelihood::BinarizedBernoulli, false).bits_per_binary_pixel(px).unwrap();
    says(format!("scores {:.3} bits per binary pixel ({:.3} on the clothes)", bin(0), bin(1)));
    says(format!("reports {:.1} nats per image on the digits, of which", find(0, b, false).neg_elbo()));
    // The per-pixel mean: total collapse on both data sets.
    let (mean0, mean1) = (find(0, b, true), find(1, b, true));
    assert!(mean0.kl < 0.05 && mean1.kl < 0.05 && mean0.active_units == 0 && mean1.active_units == 0);
    says(format!("puts {:.1} nats into its code and no latent unit is active", mean0.kl));
    says(format!(
        "it reaches {:.1} nats per image where the correctly summed loss reaches {:.1} ({:.1} against {:.1} on the clothes)",
        mean0.neg_elbo(),
        find(0, b, false).neg_elbo(),
        mean1.neg_elbo(),
        find(1, b, false).neg_elbo()
    ));
    // Importance sampling never loosens the bound.
    for v in r.data.iter().flat_map(|d| &d.variants) {
        assert!(v.importance_nll <= v.neg_elbo() + 1e-9, "{}", v.label);
    }
}

/// The likelihood experiments run end to end in their small configuration.
#[test]
fn likelihoods_quick_run_is_sane() {
    let cfg = report::likelihoods::LikelihoodsConfig::quick();
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::likelihoods::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!((r.data.len(), written.len()), (2, 4));
    assert!(written.iter().all(|p| p.exists()));
    for v in r.data.iter().flat_map(|d| &d.variants) {
        assert!(v.neg_elbo().is_finite() && v.importance_nll.is_finite() && v.kl >= 0.0, "{v:?}");
    }
}

/// The sequence experiments run end to end in their small configuration.
#[test]
fn sequences_quick_run_is_sane() {
    let cfg = report::sequences::SequencesConfig::quick();
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::sequences::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(written.len(), 5);
    assert!(written.iter().all(|p| p.exists()));
    assert_eq!(r.rows.test_sequences, 100);
    for s in [&r.chorales, &r.rows] {
        assert!(s.rnn_nll.is_finite() && s.vrnn_importance.is_finite() && s.vrnn_kl >= 0.0, "{s:?}");
    }
}

/// The text chapter's tables are what its data says, and the prose's claims hold.
#[test]
fn text_tables_match_their_data() {
    let dir = report::generated_dir(&book_src());
    let r: report::text::TextResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("text.json")).unwrap()).unwrap();
    assert_eq!(r.config, report::text::TextConfig::book());
    // The sizes the chapter's prose names.
    let m = r.config.model;
    assert_eq!((m.embedding, m.hidden, m.latent_dim), (64, 128, 16));
    assert_eq!((r.config.max_words, r.config.min_count, r.config.importance_samples), (20, 10, 20));
    assert_eq!(r.config.trace_every, 20);
    assert_eq!(std::fs::read_to_string(dir.join("text.md")).unwrap(), report::text::table(&r));
    assert_eq!(std::fs::read_to_string(dir.join("text-probes.md")).unwrap(), report::text::probe_table(&r));
    assert_eq!(std::fs::read_to_string(dir.join("text-samples.md")).unwrap(), report::text::samples_text(&r));
    assert_eq!(r.vaes.len(), 3);
    let chapter = std::fs::read_to_string(book_src().join("text-vae.md")).unwrap();
    let text = chapter.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter does not say {s:?}");
    for v in &r.vaes {
        assert!(v.importance_nll <= v.test.nll() + 1e-9, "importance sampling tightens the bound: {}", v.name);
    }
    let (plain, annealed, both) = (&r.vaes[0], &r.vaes[1], &r.vaes[2]);
    // Posterior collapse, with and without annealing: almost no KL, one reconstruction for all.
    assert!(plain.test.kl < 0.1 && plain.active_units == 0 && plain.distinct_reconstructions <= 3, "{plain:?}");
    assert!(annealed.test.kl < 0.1 && annealed.active_units == 1 && annealed.distinct_reconstructions <= 3);
    // With word dropout the code survives, and costs likelihood against the language model.
    says(format!(
        "a KL of {:.2} nats, 11 active units, {} different reconstructions of 100",
        both.test.kl, both.distinct_reconstructions
    ));
    assert_eq!((both.active_units, both.reconstructed), (11, 100));
    says(format!(
        "is {:.2} nats per sentence above the language model's exact $-\\log p(x)$ ({:.2} against {:.2})",
        both.importance_nll - r.lm.nll(),
        both.importance_nll,
        r.lm.nll()
    ));
    // The three models without a code are within a few tenths; the annealed one a little below the LM.
    let without = [r.lm.nll(), plain.importance_nll, annealed.importance_nll];
    let (lo, hi) = without.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    says(format!("({lo:.2} to {hi:.2})"));
    says(format!(
        "about 0.1 nats below the language model's exact value ({:.2} against {:.2})",
        annealed.importance_nll,
        r.lm.nll()
    ));
    assert!(((r.lm.nll() - annealed.importance_nll) - 0.1).abs() < 0.02);
    assert!(hi - lo < 0.5 && annealed.importance_nll < r.lm.nll());
    assert!(r.lm_fit.valid[7] > r.lm_fit.valid[6], "the language model's validation loss rose after the seventh epoch");
    assert_eq!((annealed.fit.best_epoch, r.lm_fit.best_epoch, plain.fit.best_epoch), (10, 7, 7));
    // Stopped by patience (LM, plain) or by the cap with the validation loss still falling.
    assert!(r.lm_fit.valid.len() < 10 && plain.fit.valid.len() < 10);
    for v in [annealed, both] {
        let n = v.fit.valid.len();
        assert!(n == 10 && v.fit.valid[n - 1] < v.fit.valid[n - 2], "{}", v.name);
    }
    let last_fall = both.fit.valid[8] - both.fit.valid[9];
    says(format!("the one with word dropout by {last_fall:.2} nats in its last epoch"));
    // The figure: the plain KL gone within a hundred steps; the annealed one's first tens of nats
    // mostly gone by step 200 while the weight is small, a few tenths left that fade.
    let at = |v: &report::text::VaeResult, step: usize| v.trace.step.iter().position(|&s| s >= step).unwrap();
    assert!(plain.trace.kl[at(plain, 100)..].iter().all(|&k| k < 0.1) && plain.trace.kl[at(plain, 100)] < 0.01);
    for v in [annealed, both] {
        let i = at(v, 200);
        assert!(v.trace.kl[0] > 10.0 && v.trace.kl[i] < 0.2 * v.trace.kl[0] && v.trace.weight[i] < 0.4, "{}", v.name);
    }
    let after = at(annealed, 601);
    assert!(annealed.trace.kl[after..].iter().all(|&k| k < 0.5) && *annealed.trace.kl.last().unwrap() < 0.1);
    // The annealed trace: most gone within 60 steps, a rebound to about 7, a few tenths by step 200
    // (weight a third), a dip, about a quarter of a nat as the weight reaches 1, a few hundredths at the end.
    let a = &annealed.trace.kl;
    assert!(
        a[at(annealed, 60)] < 0.15 * a[0] && (6.5..7.5).contains(&a[at(annealed, 100)]) && a[at(annealed, 200)] < 0.5
    );
    assert!((0.3..0.37).contains(&annealed.trace.weight[at(annealed, 200)]));
    assert!(a[at(annealed, 260)] < 0.1 && (0.2..0.3).contains(&a[at(annealed, 600)]) && *a.last().unwrap() < 0.05);
    // With word dropout: under half a nat by step 160, about one while the weight rises, 0.8 at
    // step 600, about 2.5 over the last epoch, still rising.
    let k = &both.trace.kl;
    assert!(
        k[at(both, 160)] < 0.5 && (0.85..1.1).contains(&k[at(both, 320)]) && (0.75..0.85).contains(&k[at(both, 600)])
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let per_epoch = r.sentences.0.div_ceil(r.config.vae_schedule.batch_size).max(1);
    let last_epoch = &k[at(both, 9 * per_epoch)..];
    assert!((2.4..2.6).contains(&mean(last_epoch)), "{}", mean(last_epoch));
    assert!(mean(&k[k.len() - 10..]) > mean(&k[k.len() - 20..k.len() - 10]));
    // Beside the paper: our language model and the VAE with both remedies.
    says(format!(
        "here the language model scores {:.2} nats per sentence and the VAE with both remedies a bound of {:.2}, of which the KL is {:.2} ({:.2} importance sampled)",
        r.lm.nll(),
        both.test.nll(),
        both.test.kl,
        both.importance_nll
    ));
    // What the codes know: the baselines, then balanced accuracy.
    let row = |name: &str| r.probes.iter().find(|p| p.features.starts_with(name)).unwrap_or_else(|| panic!("{name}"));
    let (chance, train_major, test_major, bow) =
        (row("chance"), row("always the training"), row("always the test"), row("bag of words"));
    let pct = |a: f64| format!("{:.1}%", 100.0 * a);
    says(format!("mostly Republican ({} of the party sentences)", pct(test_major.party.plain)));
    says(format!("commonest party scores {}", pct(train_major.party.plain)));
    let probes: Vec<_> = r.probes.iter().filter(|p| p.features.starts_with("latent means")).collect();
    assert_eq!(probes.len(), 3);
    assert!(probes.iter().chain([&bow]).all(|p| p.party.plain < test_major.party.plain));
    assert!([train_major, test_major].iter().all(|p| (p.party.balanced - 0.5).abs() < 1e-9));
    assert!((chance.decade.plain - 1.0 / 24.0).abs() < 1e-9 && r.decades == 24);
    let range = |f: &dyn Fn(&&report::text::ProbeRow) -> f64| {
        let v: Vec<f64> = probes.iter().map(f).collect();
        (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(f64::MIN, f64::max))
    };
    let (party_lo, party_hi) = range(&|p| p.party.balanced);
    let (decade_lo, decade_hi) = range(&|p| p.decade.balanced);
    says(format!("score {} to {} balanced accuracy on the party", pct(party_lo), pct(party_hi)));
    let confined = 1.0 / report::text::test_decades(&r) as f64;
    assert_eq!(report::text::test_decades(&r), 12);
    says(format!(
        "but the test sentences come from only 12 decades, so any answer confined to those, a constant one included, scores 1/12 ({})",
        pct(confined)
    ));
    says(format!(
        "On the decade they score {} to {}: above a uniform guess over all 24 decades ({}) but below the {}",
        pct(decade_lo),
        pct(decade_hi),
        pct(chance.decade.plain),
        pct(confined)
    ));
    assert!(party_lo > 0.5 && decade_lo > chance.decade.plain && decade_hi < confined);
    says(format!("does as well on the party ({})", pct(bow.party.balanced)));
    says(format!(
        "clearly better on the decade ({}, above any guess that ignores the sentence)",
        pct(bow.decade.balanced)
    ));
    assert!((party_lo..=party_hi + 0.01).contains(&bow.party.balanced) && bow.decade.balanced > confined);
    let se = (0.6f64 * 0.4 / r.party_test_sentences as f64).sqrt();
    says(format!(
        "With {} test sentences, one standard error of an accuracy near 60% would be {:.1} points",
        "1,472",
        100.0 * se
    ));
    assert_eq!(r.party_test_sentences, 1472);
    assert!(((party_hi - party_lo) * 100.0 - 5.0).abs() < 0.05, "the five-point spread");
    // "our test sentences 13.7 [words on average]": predicted tokens minus one <eos> per sentence.
    let words = (r.lm.tokens - r.lm.sentences) as f64 / r.lm.sentences as f64;
    says(format!("our test sentences {words:.1} and at most 20"));
    // The homotopy moves, in a few jumps; neither end sentence is reconstructed.
    let inner = &r.homotopy[1..r.homotopy.len() - 1];
    let distinct = inner.iter().collect::<std::collections::HashSet<_>>().len();
    assert!((2..inner.len()).contains(&distinct), "{inner:?}");
    assert!(inner[0] != r.homotopy[0] && inner[inner.len() - 1] != r.homotopy[r.homotopy.len() - 1]);
    // The reconstructions keep at best the first word and a function word.
    for row in &r.reconstructions {
        let (truth, decoded) = (row[0].split(' ').collect::<Vec<_>>(), row[3].split(' ').collect::<Vec<_>>());
        let shared = truth.iter().zip(&decoded).take_while(|(a, b)| a == b).count();
        assert!(shared <= 1 && decoded.iter().filter(|w| truth.contains(w)).count() <= 3, "{row:?}");
    }
    // The paper's numbers quoted in the prose are the ones the code keeps.
    let (lm, vae, svae) = (report::text::BOWMAN_RNNLM, report::text::BOWMAN_VAE, report::text::SENTENCE_VAE);
    for quoted in [
        format!("NLL 100 per sentence (perplexity {})", lm.1).replace("100", &lm.0.to_string()),
        format!("bound of {}, of which the\nKL is {}, perplexity {}", vae.0, vae.1, vae.2),
        format!(
            "reconstruction term of\n{} and a KL of {} on the same test set, so its bound is their sum, {:.2}",
            svae.0,
            svae.1,
            svae.0 + svae.1
        ),
    ] {
        assert!(chapter.contains(&quoted), "the chapter does not say {quoted:?}");
    }
    // The commonest party of the training sentences is not the test set's.
    assert!(train_major.party.plain < 0.5 && test_major.party.plain > 0.5);
}

/// The text experiment runs end to end in its small configuration.
#[test]
fn text_quick_run_is_sane() {
    let cfg = report::text::TextConfig::quick();
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::text::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(written.len(), 1);
    assert!(written.iter().all(|p| p.exists()));
    assert_eq!(r.sentences, (1000, 200, 200));
    assert_eq!((r.vaes.len(), r.probes.len(), r.homotopy.len()), (3, 7, cfg.homotopy_points + 2));
    for v in &r.vaes {
        assert!(v.test.nll().is_finite() && v.importance_nll.is_finite() && v.test.kl >= 0.0, "{v:?}");
    }
    let accuracies = r.probes.iter().flat_map(|p| [p.party.plain, p.party.balanced, p.decade.plain, p.decade.balanced]);
    assert!(accuracies.into_iter().all(|a| (0.0..=1.0).contains(&a)));
}

/// The models benchmark's table says what the compute-cost chapter says of it: each pair of
/// runs reaches the same held-out loss (the same function), the ratio is the two medians', the
/// conv VAE is closer than the 8-10x it started from, and the sentence VAE about as fast.
#[test]
fn models_benchmark_agrees_with_pytorch() {
    let md = std::fs::read_to_string(report::generated_dir(&book_src()).join("compute-models.md")).unwrap();
    let num = |s: &str| s.trim().trim_matches('*').parse::<f64>().unwrap();
    let mut ratios = std::collections::HashMap::new();
    for row in md.lines().filter(|l| l.starts_with("| convolutional VAE") || l.starts_with("| sentence VAE")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (candle, torch, ratio) = (num(cells[2]), num(cells[3]), num(cells[4]));
        assert!((candle / torch - ratio).abs() < 0.01, "{row}");
        let losses: Vec<f64> = cells[6].split('/').map(num).collect();
        assert!((losses[0] - losses[1]).abs() < 0.1, "the same function must reach the same loss: {row}");
        ratios.insert(cells[1].split_whitespace().next().unwrap().to_string(), ratio);
    }
    assert_eq!(ratios.len(), 2, "{md}");
    let text = std::fs::read_to_string(book_src().join("compute-cost.md")).unwrap();
    assert!(text.contains("eight to ten times") && ratios["convolutional"] < 2.0, "{ratios:?}");
    assert!(text.contains("about as fast as PyTorch's `nn.GRU` model") && ratios["sentence"] < 1.2, "{ratios:?}");
}

/// What the text chapter says of its data: the party test sentences come from the addresses of 13
/// years, only 4 of them Democratic, and the training sentences are slightly more often Democratic.
#[test]
fn text_party_sentences_come_from_few_addresses() {
    use vae_book::data::sotu::{self, SotuSplit};
    let all = sotu::embedded().unwrap();
    let kept = |split: SotuSplit| {
        all.iter().filter(move |s| {
            s.split == split && s.tokens.len() <= 20 && ["Democratic", "Republican"].contains(&s.party.as_str())
        })
    };
    let addresses: std::collections::BTreeSet<(u16, &str)> =
        kept(SotuSplit::Test).map(|s| (s.year, s.party.as_str())).collect();
    let democratic = addresses.iter().filter(|a| a.1 == "Democratic").count();
    assert_eq!((addresses.len(), democratic), (13, 4), "{addresses:?}");
    let train: Vec<_> = kept(SotuSplit::Train).collect();
    let share = train.iter().filter(|s| s.party == "Democratic").count() as f64 / train.len() as f64;
    assert!((0.5..0.55).contains(&share), "{share}");
    let text = std::fs::read_to_string(book_src().join("text-vae.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("the party sentences come from the addresses of 13 years, only 4 of them Democratic"));
    assert!(text.contains("the training ones slightly more often Democratic"));
}

/// The VQ-VAE chapter's table is rendered from its committed results, which say what the chapter says.
#[test]
fn vqvae_table_matches_its_data() {
    use report::vqvae::{self, VqConfig, VqResults};
    let dir = report::generated_dir(&book_src());
    let r: VqResults = serde_json::from_str(&std::fs::read_to_string(dir.join("vqvae.json")).unwrap()).unwrap();
    assert_eq!(r.config, VqConfig::book());
    assert_eq!(std::fs::read_to_string(dir.join("vqvae.md")).unwrap(), vqvae::table(&r));
    let text = std::fs::read_to_string(book_src().join("vq-vae.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter must say: {s}");
    // Reconstructions: the VQ-VAE's are better, in nats and in squared error.
    assert!(r.test.recon < r.vae_recon && r.test.mse < r.vae_mse);
    says(format!("a reconstruction term of {:.1} nats against the VAE's {:.1}", r.test.recon, r.vae_recon));
    says(format!("a squared error per pixel of {:.4} against {:.4}", r.test.mse, r.vae_mse));
    says(format!("a squared error of {} times the pixels' variance", vqvae::KERAS_NORMALIZED_MSE));
    says(format!(
        "ours is {:.3} times the variance, on our {} test digits",
        r.test.mse / r.pixel_variance,
        report::thousands(r.test_digits)
    ));
    // Same order of magnitude as Keras's 0.0444.
    let ratio = r.test.mse / r.pixel_variance / vqvae::KERAS_NORMALIZED_MSE;
    assert!((0.3..3.0).contains(&ratio), "{ratio}");
    // Codebook use: uneven, and the entries never chosen never moved.
    let c = &r.codebook;
    let k = r.config.model.codes;
    assert!(c.test_used < k && c.train_used < k && c.never_moved <= k - c.train_used);
    says(format!(
        "The {} test digits use {} of the {k} entries, the 9,000 training digits {}",
        report::thousands(r.test_digits),
        c.test_used,
        c.train_used
    ));
    says(format!("is {:.1}: as if about {} entries", c.perplexity, c.perplexity.round()));
    says(format!("it does not move at all: {} entries are exactly at their initial values", c.never_moved));
    says(format!("never move ({} of {k} here)", c.never_moved));
    // The reconstruction comparison names its confounds: rate and network size.
    assert!(r.gru_cost > r.vae_kl && r.parameters < r.vae_parameters);
    says(format!("they cost {:.1} nats per digit, against the VAE's KL of {:.1}", r.gru_cost, r.vae_kl));
    // The setup the prose states: the digits, the prior's split, the codebook's initial range.
    assert_eq!((r.config.train_size, r.config.test_size, r.config.prior_valid), (None, None, 1000));
    says(format!("\\pm 1/\\sqrt{{D}} = \\pm {}", 1.0 / (r.config.model.code_dim as f64).sqrt()));
    says(format!("$49 \\ln {k} \\approx {:.1}$ nats per image", r.uniform_cost));
    says(format!(
        "a convolutional one of {} parameters against an MLP of {}",
        report::thousands(r.parameters),
        report::thousands(r.vae_parameters)
    ));
    // The priors: each learned one cheaper than the last; the GRU's bound close to the VAE's, behind it.
    let vae_bound = r.vae_recon + r.vae_kl;
    let [_, position, gru] = r.bounds();
    assert!(r.gru_cost < r.position_cost && r.position_cost < r.uniform_cost);
    says(format!("cuts their cost from {:.2} to {:.2} nats", r.uniform_cost, r.position_cost));
    says(format!("cuts it to {:.2}", r.gru_cost));
    assert!(gru > vae_bound && gru - vae_bound < 5.0 && position > vae_bound, "{gru} vs {vae_bound}");
    says(format!(
        "bound, {gru:.2}, comes within {:.2} nats of the VAE's {vae_bound:.2} but does not beat it",
        gru - vae_bound
    ));
    says(format!("With the GRU it comes within {:.2} nats of the VAE's, still behind", gru - vae_bound));
    assert_eq!(r.short_samples, 0, "every GRU sample has 49 codes");
    // The quantization error: falls, jumps up in the third epoch, then mostly falls to its end.
    let q = &r.quantization_curve;
    let rises: Vec<usize> = (3..q.len()).filter(|&i| q[i] > q[i - 1]).map(|i| i + 1).collect();
    assert!(q[1] < q[0] && q[2] > q[0] && rises.len() == 2 && q[q.len() - 1] < q[3] / 4.0, "{q:?}");
    says(format!(
        "falls from {:.0} to {:.0} in the second epoch, jumps to {:.0} in the third, and then mostly falls (with small \
         rises at epochs {} and {}) to {:.0} by the thirtieth",
        q[0],
        q[1],
        q[2],
        rises[0],
        rises[1],
        q[q.len() - 1]
    ));
    assert_eq!(q.len(), 30);
}

/// The blur chapter's table is rendered from its committed results, which say what the chapter says.
#[test]
fn blur_table_matches_its_data() {
    use report::blur::{self, BlurConfig, BlurResults, ROWS};
    let dir = report::generated_dir(&book_src());
    let r: BlurResults = serde_json::from_str(&std::fs::read_to_string(dir.join("blur.json")).unwrap()).unwrap();
    assert_eq!(r.config, BlurConfig::book());
    assert_eq!(std::fs::read_to_string(dir.join("blur.md")).unwrap(), blur::table(&r));
    let text = std::fs::read_to_string(book_src().join("blur.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter must say: {s}");
    let [digits, clothes] = &r.data[..] else { panic!("two data sets") };
    assert_eq!((digits.set, clothes.set), (vae_book::data::ImageSet::Mnist, vae_book::data::ImageSet::Fashion));
    assert!(digits.scores.iter().map(|s| s.name.as_str()).eq(ROWS));
    let [held, recon, mean, pixels, fitted, gan_recon, gan, unstable] = &digits.scores[..] else { panic!() };
    let c = &clothes.scores;
    says(format!(
        "test error {:.1}% on the digits, {:.1}% on the clothes",
        100.0 * digits.classifier_error,
        100.0 * clothes.classifier_error
    ));
    says(format!("test −ELBO {:.2} on the digits", digits.vae_recon + digits.vae_kl));
    says(format!("about {:.0} nats per digit", digits.vae_kl));
    // The floor and the reconstructions: close, half as sharp.
    assert!(held.frechet < recon.frechet && recon.frechet < 2.0 * held.frechet);
    says(format!("Held-out digits are {:.2} from the training digits", held.frechet));
    says(format!("(the clothes' floor is {:.2})", c[0].frechet));
    says(format!("At {:.2} the reconstructions", recon.frechet));
    says(format!("their sharpness is {:.4} against the data's {:.4}", recon.sharpness, held.sharpness));
    assert!(recon.sharpness < 0.6 * held.sharpness);
    // Samples: farther and the blurriest row.
    let least_sharp = digits.scores.iter().map(|s| s.sharpness).fold(f64::INFINITY, f64::min);
    assert_eq!(mean.sharpness, least_sharp);
    says(format!("are {:.2} from the data, with sharpness {:.4}, the lowest", mean.frechet, mean.sharpness));
    // Bernoulli pixels: noisy (twice the data's sharpness), yet a lower distance.
    assert!(pixels.sharpness > 2.0 * held.sharpness && pixels.frechet < mean.frechet);
    says(format!(
        "sharpness {:.4}, more than twice the data's. Their Fréchet distance, {:.2}",
        pixels.sharpness, pixels.frechet
    ));
    // The prior hole: a fitted Gaussian is closer, by most of the distance on the clothes.
    assert!(fitted.frechet < mean.frechet && c[4].frechet < 0.5 * c[2].frechet && fitted.frechet > recon.frechet);
    let gone = |a: f64, b: f64| format!("{:.0}%", 100.0 * (b - a) / b);
    says(format!(
        "gives {:.2} instead of {:.2} on the digits and {:.2} instead of {:.2} on the clothes: {} and {} of the distance gone",
        fitted.frechet,
        mean.frechet,
        c[4].frechet,
        c[2].frechet,
        gone(fitted.frechet, mean.frechet),
        gone(c[4].frechet, c[2].frechet)
    ));
    says(format!(
        "divergence from $N(0, I)$ is {:.2} nats on the digits and {:.2} on the clothes",
        digits.fitted_kl, clothes.fitted_kl
    ));
    // The aggregate posterior's divergence from the prior, bounded below through I(x; z) <= ln N.
    let ln_n = (9000f64).ln();
    says(format!("at most $\\ln 9000 \\approx {ln_n:.2}$ nats for 9,000 images"));
    says(format!("average KL term ({:.2} nats)", digits.vae_kl));
    says(format!(
        "at least about {:.0} nats on the digits ({:.1} on the clothes)",
        digits.vae_kl - ln_n,
        clothes.vae_kl - ln_n
    ));
    assert!(digits.fitted_kl < digits.vae_kl - ln_n && clothes.fitted_kl < clothes.vae_kl - ln_n);
    // The VAE-GAN: sharper than the VAE and the data, farther at the end, classes less even.
    for (d, name) in [(&digits.scores, "digits"), (c, "clothes")] {
        assert!(d[6].sharpness > d[0].sharpness && d[6].sharpness > d[2].sharpness, "{name}");
        assert!(d[6].top_class > d[2].top_class && d[2].top_class > d[0].top_class, "{name}");
        assert!(d[7].frechet > 2.0 * d[6].frechet && d[7].top_class >= d[6].top_class, "{name}");
    }
    let ratio = |a: f64, b: f64| (a / b).round();
    says(format!(
        "sharpness {:.4} on the digits and {:.4} on the clothes, {} and {} times the VAE samples' ({:.4}, {:.4}) and above the data's own ({:.4}, {:.4})",
        gan.sharpness,
        c[6].sharpness,
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
            [ratio(gan.sharpness, mean.sharpness) as usize],
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
            [ratio(c[6].sharpness, c[2].sharpness) as usize],
        mean.sharpness,
        c[2].sharpness,
        held.sharpness,
        c[0].sharpness
    ));
    says(format!("its samples are {:.2} from the data, the VAE's {:.2}", gan.frechet, mean.frechet));
    assert!(digits.vaegan_curve.iter().zip(&digits.vae_curve).all(|(g, v)| g > v));
    let ahead = clothes.vaegan_curve.iter().zip(&clothes.vae_curve).filter(|(g, v)| g < v).count();
    let (best, best_epoch) = clothes
        .vaegan_curve
        .iter()
        .enumerate()
        .map(|(e, &f)| (f, e + 1))
        .fold((f64::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
    let epochs = clothes.vaegan_curve.len();
    assert!(clothes.vaegan_curve[epochs - 1] > clothes.vae_curve[epochs - 1]);
    says(format!(
        "ahead of the VAE after {ahead} of the {epochs} epochs (its lowest is {best:.2} at epoch {best_epoch}, against the VAE's {:.2} at the end), and behind at the last one, {:.2}",
        c[2].frechet, c[6].frechet
    ));
    let pct = |v: f64| format!("{:.0}%", 100.0 * v);
    says(format!(
        "puts {} of its digit samples and {} of its clothes in one class, against {} and {} for the VAE and {} for held-out images",
        pct(gan.top_class),
        pct(c[6].top_class),
        pct(mean.top_class),
        pct(c[2].top_class),
        pct(held.top_class)
    ));
    assert_eq!(pct(held.top_class), pct(c[0].top_class));
    says(format!("far from the data ({:.2} on the digits, against the VAE's {:.2};", gan_recon.frechet, recon.frechet));
    says(format!(
        "the samples end at {:.2} (digits) and {:.2} (clothes), noisy blobs with {} in a single class on both",
        unstable.frechet,
        c[7].frechet,
        pct(unstable.top_class)
    ));
    let u = &digits.unstable_curve;
    assert!(u[u.len() - 1] < u[u.len() - 2], "the unstable digits' distance was still falling at the last epoch");
    // Speckle alone does not make the classes uneven: the Bernoulli draws keep the VAE's share.
    assert!(pixels.top_class < gan.top_class && c[3].top_class < c[6].top_class);
    assert!(pixels.sharpness > gan.sharpness && c[3].sharpness > c[6].sharpness);
    says(format!("more speckled still, stay at {} and {}", pct(pixels.top_class), pct(c[3].top_class)));
    assert!(c[3].frechet < c[2].frechet);
    says(format!("(on the clothes too: {:.2} against {:.2};", c[3].frechet, c[2].frechet));
    // The VAE-GAN's reconstructions are farther than its samples; its discriminator wins at the end.
    assert!(gan_recon.frechet > gan.frechet && c[5].frechet > c[6].frechet);
    let term = |d: &blur::BlurData, name: &str| d.vaegan_terms.iter().find(|t| t.0 == name).unwrap().1;
    says(format!(
        "loss on test images is {:.2} on the digits and {:.2} on the clothes, the decoder's {:.2} and {:.2} nats per image",
        term(digits, "caught"),
        term(clothes, "caught"),
        term(digits, "fooled"),
        term(clothes, "fooled")
    ));
    assert!(term(digits, "caught") < 0.5 && term(clothes, "caught") < 0.5);
    let rate = r.config.vaegan_run.lr / r.config.vae.lr;
    assert!((0.25..0.35).contains(&rate), "a third of the VAE's rate: {rate}");
    assert_eq!(pct(unstable.top_class), pct(c[7].top_class));
    let rises = clothes.vae_curve.windows(2).filter(|w| w[1] > w[0]).count();
    assert_eq!(rises, 3, "the clothes caption says the VAE's distance falls in all but three epochs");
    // The setup the prose states.
    assert_eq!(
        (r.config.vaegan.gamma, r.config.unstable.gamma, r.config.vaegan_run.epochs, r.config.samples),
        (1.0, 0.0, 30, 1000)
    );
    assert_eq!((r.config.classifier.features, r.config.classifier_run.epochs, r.config.vae.epochs), (64, 10, 30));
    assert!(
        (4.5..6.0).contains(&digits.vaegan_seconds_per_epoch),
        "about 5 s per epoch: {}",
        digits.vaegan_seconds_per_epoch
    );
}

/// The blur notebook is committed with a full run whose digit table equals the book's digit columns.
#[test]
fn blur_notebook_reproduces_the_books_digits() {
    use report::blur::{self, BlurConfig, BlurResults};
    let dir = report::generated_dir(&book_src());
    let book: BlurResults = serde_json::from_str(&std::fs::read_to_string(dir.join("blur.json")).unwrap()).unwrap();
    let tables = notebook_tables("blur.ipynb");
    let digits_only = BlurResults {
        config: BlurConfig { data: vec![vae_book::data::ImageSet::Mnist], ..book.config.clone() },
        data: vec![book.data[0].clone()],
    };
    let expected = blur::table(&digits_only);
    assert!(
        tables.iter().any(|t| t.trim() == expected.trim()),
        "notebooks/blur.ipynb must hold the book's digit table from a full run:\n{expected}\nfound: {tables:?}"
    );
}

/// The markdown outputs of a committed notebook, one string per output.
fn notebook_tables(name: &str) -> Vec<String> {
    let path = book_src().join("../../notebooks").join(name);
    let nb: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["outputs"].as_array().cloned().unwrap_or_default())
        .filter_map(|o| o["data"]["text/markdown"].as_array().cloned())
        .map(|lines| lines.iter().map(|l| l.as_str().unwrap()).collect::<String>())
        .collect()
}

/// The challenges chapter's tables are what the code makes of the JSON (its own and the other
/// chapters'), and every number its prose quotes is read from them here.
#[test]
fn challenges_tables_and_prose_match_their_data() {
    use report::challenges::{self, ChallengesConfig, ChallengesResults, Sources};
    let dir = report::generated_dir(&book_src());
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let r: ChallengesResults = serde_json::from_str(&read("challenges.json")).unwrap();
    assert_eq!(r.config, ChallengesConfig::book());
    let s = Sources::load(&book_src()).unwrap();
    assert_eq!(read("challenges-remedies.md"), challenges::remedies_table(&s.text, &r));
    assert_eq!(read("challenges-glance.md"), challenges::glance_table(&s).unwrap());
    let text = std::fs::read_to_string(book_src().join("challenges.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let says = |s: String| assert!(text.contains(&s), "the chapter must say: {s}");
    let [fb, cyc, fbwd] = &r.vaes[..] else { panic!("three VAEs") };
    let names = ["VAE + free bits", "VAE + cyclical annealing", "VAE + free bits + word dropout"];
    assert!(r.vaes.iter().map(|v| v.name.as_str()).eq(names));
    let (lm, plain, dropout) = (s.text.lm.nll(), &s.text.vaes[0], &s.text.vaes[2]);
    let latent = r.config.text.model.latent_dim;

    // Free bits: at the floor, every unit active, a bound below the language model's.
    let floor = r.config.free_bits * latent as f64;
    assert!(fb.test.kl > floor && fb.test.kl < 1.1 * floor, "{}", fb.test.kl);
    says(format!("ends with a KL of {:.2} nats against a floor of {floor:.2}", fb.test.kl));
    assert_eq!(fb.active_units, latent);
    says(format!(
        "all {latent} of its units active, and {} different greedy decodings of {} test sentences' codes, where the plain VAE had one",
        fb.distinct_reconstructions, fb.reconstructed
    ));
    assert_eq!(plain.distinct_reconstructions, 1);
    assert!(fb.importance_nll < lm);
    says(format!(
        "−𝓛₂₀ is {:.2} nats per sentence, {:.2} below the language model's exact {lm:.2}",
        fb.importance_nll,
        lm - fb.importance_nll
    ));
    let collapsed = (s.text.vaes[0].importance_nll, s.text.vaes[1].importance_nll);
    says(format!("differ by {:.2} ({:.2} and {:.2})", collapsed.0 - collapsed.1, collapsed.0, collapsed.1));
    assert!(collapsed.0 - collapsed.1 >= lm - fb.importance_nll);
    let floor_reached = fb.trace.step[fb.trace.kl.iter().position(|&k| k >= floor).unwrap()];
    assert!((900..1250).contains(&floor_reached), "{floor_reached}");
    assert_eq!(format!("{:.1}", fb.trace.kl[0]), "1.6");
    says("The KL starts at 1.6 nats, climbs to the floor within about four epochs".into());
    assert_eq!((s.text.lm_fit.best_epoch, fb.fit.best_epoch), (7, 10));
    says("stopped improving after its seventh epoch while this VAE was still improving at its tenth".into());
    let gap = |v: &report::text::VaeResult| v.test.nll() - v.importance_nll;
    assert!(gap(fb) > gap(plain));
    says(format!(
        "Its ELBO is {:.2} nats looser than its importance-sampled bound ({:.2} against {:.2})",
        gap(fb),
        fb.test.nll(),
        fb.importance_nll
    ));

    // Cyclical annealing: gone in the first cycle, back after each restart, ratcheting up.
    let (steps, kl) = (&cyc.trace.step, &cyc.trace.kl);
    let period = r.config.cycle;
    assert_eq!(format!("{:.0}", kl[0]), "26");
    let at_200 = kl[steps.iter().position(|&s| s == 200).unwrap()];
    assert!((0.005..0.02).contains(&at_200), "{at_200}");
    let first_cycle_rest = steps.iter().zip(kl).filter(|(s, _)| (200..=period).contains(*s)).map(|(_, &k)| k);
    assert!(first_cycle_rest.fold(0.0, f64::max) < 0.03, "stays there until the cycle ends");
    let batches = s.text.sentences.0.div_ceil(s.text.config.vae_schedule.batch_size);
    says(format!(
        "(about two epochs of {batches} batches), so a run of ten epochs has five, the last a few steps short"
    ));
    assert!(10 * batches < 5 * period && 10 * batches > 5 * period - 20);
    let cycle = |k: usize| steps.iter().zip(kl).filter(move |(s, _)| **s > k * period && **s <= (k + 1) * period);
    let cycles = steps.last().unwrap().div_ceil(period);
    assert_eq!(cycles, 5);
    let peaks: Vec<String> =
        (1..cycles).map(|k| format!("{:.2}", cycle(k).map(|(_, &x)| x).fold(0.0, f64::max))).collect();
    says(format!("to peaks of {} and {} nats in the four later cycles", peaks[..3].join(", "), peaks[3]));
    let ends: Vec<f64> = (0..cycles).map(|k| *cycle(k).next_back().unwrap().1).collect();
    assert!(ends.windows(2).all(|w| w[1] > w[0]), "{ends:?}");
    let ends: Vec<String> = ends.iter().map(|x| format!("{x:.2}")).collect();
    says(format!("({} and {} nats)", ends[..4].join(", "), ends[4]));
    says(format!(
        "its test KL is {:.2} nats, with {} active units and {} distinct decodings of {}, and its bound {:.2}, also below",
        cyc.test.kl, cyc.active_units, cyc.distinct_reconstructions, cyc.reconstructed, cyc.importance_nll
    ));
    assert!(cyc.importance_nll < lm);
    says(format!("by as little ({:.2} nats, one seed)", lm - cyc.importance_nll));

    // Free bits with word dropout: the code at the floor, the likelihood of word dropout.
    says(format!(
        "the KL is {:.2} nats and {} of {} decodings differ, but the bound is {:.2}, {:.2} nats worse than free bits alone",
        fbwd.test.kl,
        fbwd.distinct_reconstructions,
        fbwd.reconstructed,
        fbwd.importance_nll,
        fbwd.importance_nll - fb.importance_nll
    ));
    assert!((fbwd.importance_nll - dropout.importance_nll).abs() < 0.2);
    says(format!(
        "{:.2} above the language model, about as far as the text chapter's model with annealing and word dropout ({:.2}, {:.2} above)",
        fbwd.importance_nll - lm,
        dropout.importance_nll,
        dropout.importance_nll - lm
    ));
    let last_drop =
        |v: &report::text::VaeResult| v.fit.valid[v.fit.valid.len() - 2] - v.fit.valid[v.fit.valid.len() - 1];
    assert!(last_drop(fbwd) > last_drop(fb) && last_drop(fbwd) > last_drop(cyc));
    says(format!(
        "its validation loss fell {:.2} nats in its last epoch, the free-bits run's {:.2}",
        last_drop(fbwd),
        last_drop(fb)
    ));
    let minutes = r.vaes.iter().map(|v| v.seconds).sum::<f64>() / 60.0;
    assert_eq!(minutes.round(), 9.0, "{minutes}");
    says("(`vae figures --chapter challenges`, about nine minutes on two cores)".into());
    // The caption: the two free-bits curves end with word dropout's a little higher.
    let tail = |v: &report::text::VaeResult| v.trace.kl[v.trace.kl.len() - 15..].to_vec();
    assert!(tail(fb).iter().zip(tail(fbwd)).all(|(a, b)| *a < b));
    // All three undertrained: at the cap, still improving.
    for v in &r.vaes {
        assert_eq!(v.fit.best_epoch, r.config.text.vae_schedule.max_epochs, "{}", v.name);
        assert!(v.fit.valid[v.fit.valid.len() - 1] < v.fit.valid[v.fit.valid.len() - 2], "{}", v.name);
    }

    // The glance table's claims.
    let (beta, one) = (s.beta.runs.last().unwrap(), s.beta.runs.iter().find(|b| b.beta == 1.0).unwrap());
    let active = vae_book::estimators::ACTIVE_UNIT_VARIANCE;
    let barely = beta.mean_variances.iter().filter(|&&v| v > active && v < 0.05).count();
    let least_at_one = one.mean_variances.iter().copied().fold(f32::INFINITY, f32::min);
    says(format!(
        "At β = {} its rate is down to {:.2} nats, from {:.2} at β = 1: a partial collapse. {} of its 20 units still pass the active-unit test, but {barely} of those barely (the variance of their means over the test digits is under 0.05, where every unit's was at least {least_at_one:.2} at β = 1)",
        beta.beta, beta.rate, one.rate, beta.active_units
    ));
    assert_eq!(s.likelihoods.data[0].pixels, 784);
    says("it weighs the KL term 784 times more heavily".into());
    // The text chapter's remedies: annealing alone left one decoding, with word dropout many.
    let annealed = &s.text.vaes[1];
    assert!(annealed.distinct_reconstructions == 1 && annealed.active_units <= 1);
    assert!(dropout.distinct_reconstructions > 50 && dropout.active_units > latent / 2);
    says("KL annealing alone did not save the code there; annealing with word dropout did".into());
    // The plain VAE stopped early (patience), before the cap.
    assert!(plain.fit.valid.len() < s.text.config.vae_schedule.max_epochs);
    assert_eq!(format!("{:.2}", plain.test.kl), "0.02");
    says("its KL falls to about two hundredths of a nat, no unit is active".into());
    let pixel_mean = s.likelihoods.data[0].variants.iter().find(|v| v.pixel_mean).unwrap();
    assert!(pixel_mean.kl < 2e-5 && pixel_mean.active_units == 0);
    let mlp = s.mlp_seconds_per_epoch();
    assert!(mlp < 0.5 && s.conv.conv_seconds_per_epoch > 2.0 && s.blur.data[0].vaegan_seconds_per_epoch > 2.0);
    assert_eq!((s.blur.data[0].vaegan_seconds_per_epoch / mlp).round(), 12.0);
    says("The VAE-GAN's epoch is about twelve times the MLP VAE's".into());
    let blur = &s.blur.data[0].scores;
    assert!(blur[6].frechet > blur[2].frechet && blur[6].sharpness > blur[2].sharpness);
    assert!(blur[4].frechet < blur[2].frechet);
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    says(format!(
        "makes up {} of the VAE's samples against {} of the held-out digits (and {} of the VAE-GAN's)",
        pct(blur[2].top_class),
        pct(blur[0].top_class),
        pct(blur[6].top_class)
    ));
    says(format!("(Fréchet distances {:.2} against {:.2} on the digits)", blur[2].frechet, blur[1].frechet));
    says(format!("brings the samples to {:.2}", blur[4].frechet));
    // The benchmark ratios it summarises.
    let models = std::fs::read_to_string(dir.join("compute-models.md")).unwrap();
    let ratio = |md: &str, row: &str| -> f64 {
        let line = md.lines().find(|l| l.starts_with(row)).unwrap();
        line.split('|').nth(4).unwrap().trim().trim_matches('*').parse().unwrap()
    };
    let (conv, sentence) = (ratio(&models, "| convolutional VAE"), ratio(&models, "| sentence VAE"));
    assert!((1.3..1.7).contains(&conv) && (0.8..1.2).contains(&sentence));
    let mlp_md = std::fs::read_to_string(dir.join("compute-cost.md")).unwrap();
    let mlp_ratio: f64 = mlp_md
        .lines()
        .find(|l| l.starts_with("| ratio candle / PyTorch"))
        .and_then(|l| l.split('|').nth(2))
        .map(|c| c.trim().trim_matches('*').parse().unwrap())
        .unwrap();
    assert!((0.8..1.2).contains(&mlp_ratio));
    says(format!(
        "about as fast as PyTorch (epoch-time ratios of {mlp_ratio:.2} and {sentence:.2}), the convolutional VAE still takes about one and a half times PyTorch's epoch time ({conv:.2})"
    ));
}

/// The latent-space notebook shows the chapter's five tables, from a full run, in one block.
#[test]
fn latent_space_notebook_reproduces_the_book() {
    let dir = report::generated_dir(&book_src());
    let results: report::latent_space::LatentSpaceResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("latent-space.json")).unwrap()).unwrap();
    let tables: Vec<String> = report::latent_space::tables(&results).into_iter().map(|(_, t)| t).collect();
    let expected = tables.join("\n\n");
    let shown = notebook_tables("latent-space.ipynb");
    assert!(shown.iter().any(|t| t.trim() == expected.trim()), "notebooks/latent-space.ipynb: rerun it in full");
}

/// The notebooks rerun in full with Markdown tables hold the book's generated tables, word for word.
#[test]
fn sequences_and_cvae_notebooks_reproduce_the_book() {
    let dir = report::generated_dir(&book_src());
    for (notebook, generated) in
        [("sequences.ipynb", "sequences.md"), ("cvae.ipynb", "cvae.md"), ("cvae.ipynb", "quadrants.md")]
    {
        let expected = std::fs::read_to_string(dir.join(generated)).unwrap();
        let tables = notebook_tables(notebook);
        assert!(
            tables.iter().any(|t| t.trim() == expected.trim()),
            "notebooks/{notebook} must hold generated/{generated} from a full run:\n{expected}\nfound: {tables:?}"
        );
    }
}

/// The challenges notebook is committed with a full run whose table equals the book's.
#[test]
fn challenges_notebook_reproduces_the_book() {
    use report::challenges::{self, ChallengesResults, Sources};
    let dir = report::generated_dir(&book_src());
    let r: ChallengesResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("challenges.json")).unwrap()).unwrap();
    let expected = challenges::remedies_table(&Sources::load(&book_src()).unwrap().text, &r);
    let tables = notebook_tables("challenges.ipynb");
    assert!(
        tables.iter().any(|t| t.trim() == expected.trim()),
        "notebooks/challenges.ipynb must hold the book's table from a full run:\n{expected}\nfound: {tables:?}"
    );
}

/// The challenges chapter's commands train the models its table reports: each `vae train` line
/// gives, through the CLI's own parsing and defaults, the remedies of one of its runs.
#[test]
fn challenges_commands_train_the_chapters_models() {
    use clap::Parser;
    use report::challenges::ChallengesResults;
    use vae_book::cli::{CliModel, TrainArgs};
    use vae_book::models::text_vae::TextVae;
    #[derive(Parser)]
    struct Vae {
        #[command(flatten)]
        args: TrainArgs,
    }
    let dir = report::generated_dir(&book_src());
    let r: ChallengesResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("challenges.json")).unwrap()).unwrap();
    let text = std::fs::read_to_string(book_src().join("challenges.md")).unwrap();
    let commands: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("vae train --model text"))
        .map(|l| l.trim_start_matches("vae train"))
        .collect();
    assert_eq!(commands.len(), r.vaes.len());
    let mut outs = std::collections::BTreeSet::new();
    for (line, run) in commands.iter().zip(&r.vaes) {
        let words = std::iter::once("vae").chain(line.split_whitespace());
        let args = Vae::try_parse_from(words).unwrap_or_else(|e| panic!("{line}: {e}")).args;
        let cfg = TextVae::apply(&args, TextVae::defaults("sotu").0).unwrap();
        assert_eq!(cfg.remedies, run.remedies, "{line} must train {}", run.name);
        assert!(outs.insert(args.out.clone().unwrap()), "{line}: each run needs its own --out");
    }
}

/// Whether a `for` loop's body (up to the `}` at the loop's indentation) calls a `show_` function.
fn shows_in_a_loop(src: &str) -> bool {
    let lines: Vec<&str> = src.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let indent = line.len() - line.trim_start().len();
        let closing = format!("{}}}", " ".repeat(indent));
        line.trim_start().starts_with("for ")
            && line.trim_end().ends_with('{')
            && lines[i + 1..].iter().take_while(|l| l.trim_end() != closing).any(|l| l.contains("show_"))
    })
}

/// Every notebook cell shows at most one display (evcxr keeps only a cell's last one), and the
/// notebooks caption their figures (`show_figure`) and render tables as Markdown.
#[test]
fn notebooks_caption_figures_and_render_tables() {
    let dir = book_src().join("../../notebooks");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("ipynb") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let nb: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for cell in nb["cells"].as_array().unwrap().iter().filter(|c| c["cell_type"] == "code") {
            let src: String = cell["source"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
            let shows =
                ["show_markdown(", "show_figure(", "show_png("].iter().map(|s| src.matches(s).count()).sum::<usize>();
            assert!(shows <= 1 && !shows_in_a_loop(&src), "{name}: one display per cell:\n{src}");
            assert!(!src.contains("show_png("), "{name}: caption the figure:\n{src}");
            let printed_table =
                src.contains("println!(\"--- {name}") || src.contains("println!(\"{}\", ") && src.contains("table(");
            assert!(!printed_table, "{name}: render tables as Markdown:\n{src}");
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked} notebooks");
}

/// The introduction's promise: every chapter but the introduction and *Compute cost* has a
/// notebook of the same name.
#[test]
fn every_chapter_but_compute_cost_has_a_notebook() {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let chapters: Vec<&str> =
        summary.lines().filter_map(|l| l.split("](").nth(1)).map(|r| r.trim_end_matches(')')).collect();
    assert!(chapters.len() >= 17, "{chapters:?}");
    for md in chapters {
        let stem = md.trim_end_matches(".md");
        let notebook = book_src().join("../../notebooks").join(format!("{stem}.ipynb"));
        let exempt = ["introduction", "compute-cost"].contains(&stem);
        assert_eq!(notebook.exists(), !exempt, "{}", notebook.display());
    }
    let intro = std::fs::read_to_string(book_src().join("introduction.md")).unwrap();
    assert!(intro.contains("Each chapter but *Compute cost*"));
}
