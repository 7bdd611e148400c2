//! Bayes, variational inference, the VAE and its two runs, the likelihood facts.

use super::*;

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

/// "For four epochs the test −ELBO is below the training one; from the fifth on it is above, by a
/// little more every epoch, a few nats after ten ... The test loss still falls every epoch."
#[test]
fn vae_train_test_gap_opens_as_the_chapter_says() {
    let results = committed_results();
    let gap: Vec<f64> = results.epochs.iter().map(|e| e.test_loss - e.train_loss).collect();
    assert!(gap[..4].iter().all(|&g| g < 0.0) && gap[4..].iter().all(|&g| g > 0.0), "{gap:?}");
    assert!(gap[4..].windows(2).all(|w| w[1] > w[0]), "the gap widens every epoch from the fifth: {gap:?}");
    assert!((2.0..6.0).contains(gap.last().unwrap()), "a few nats after ten epochs: {gap:?}");
    assert!(results.epochs.windows(2).all(|w| w[1].test_loss < w[0].test_loss));
    let text = std::fs::read_to_string(book_src().join("vae.md")).unwrap();
    assert!(text.contains("For four epochs the test −ELBO is below the training"));
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

/// The caption of `vi-elbo.png`: the gap log p(x) - ELBO falls steeply over the first two hundred
/// steps (by more than a thousand times), then goes up and down without reaching zero.
#[test]
fn vi_gap_falls_steeply_then_stays_above_zero() {
    let results = report::vi_results().unwrap();
    let log_px = results.model.log_evidence();
    let gaps: Vec<f64> = results.fit.elbo.iter().map(|e| log_px - e).collect();
    assert!(gaps.iter().all(|&g| g > 0.0), "the ELBO reached or crossed log p(x)");
    let late_max = gaps[200..].iter().cloned().fold(0.0, f64::max);
    assert!(late_max < gaps[0] / 1000.0, "first gap {}, largest after step 200 {late_max}", gaps[0]);
    let rises = gaps[200..].windows(2).filter(|w| w[1] > w[0]).count();
    assert!(rises > 100, "after step 200 the gap should go up and down, rose {rises} times");
    let text = std::fs::read_to_string(book_src().join("vi.md")).unwrap();
    assert!(
        text.contains("It falls steeply over the first two hundred steps, then goes up and down without reaching zero")
    );
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

/// "the likelihood prefers two crossing components, a steep one and a long, shallow one, each taking
/// flowers of both species (the table's last column)"
#[test]
fn iris_components_cross_and_mix_species() {
    let fits = report::mixture::fits().unwrap();
    let (_, fit, _) = fits.iter().find(|(k, _, _)| *k == 3).unwrap();
    // The two components off the setosa petals (whose mean length is above 2 cm).
    let big: Vec<_> = fit.mixture.components.iter().filter(|c| c.mean[0] > 2.0).collect();
    assert_eq!(big.len(), 2);
    let slope = |c: &&vae_book::classic::gmm::Gaussian2| c.cov[0][1] / c.cov[0][0];
    let (steep, shallow) = if slope(&big[0]) > slope(&big[1]) { (big[0], big[1]) } else { (big[1], big[0]) };
    assert!(slope(&steep) > 1.5 * slope(&shallow), "slopes {} and {}", slope(&steep), slope(&shallow));
    assert!(shallow.cov[0][0] > steep.cov[0][0], "the shallow one is the longer");
    let table = std::fs::read_to_string(report::generated_dir(&book_src()).join("gmm-components.md")).unwrap();
    let mixed = table
        .lines()
        .skip(2)
        .filter(|l| {
            let counts: Vec<u32> =
                l.rsplit('|').nth(1).unwrap().split(',').map(|c| c.trim().parse().unwrap()).collect();
            counts[1] > 0 && counts[2] > 0
        })
        .count();
    assert_eq!(mixed, 2, "two components take both versicolor and virginica");
    let text = std::fs::read_to_string(book_src().join("bayes.md")).unwrap();
    assert!(
        text.contains("likelihood prefers two crossing components, a steep one and a long, shallow one, each taking")
    );
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
        text.contains("a draw from the setosa component (component 2, purple) can fall below zero, as two do here")
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
    // "all three far better than the honest baseline, always answering the training rows' majority
    // class (benign, also the test rows' majority)": every accuracy beats it by 20 points.
    let benign = report::logistic::benign_share(&results.test);
    assert!(benign > 0.5 && report::logistic::benign_share(&results.model.data) > 0.5, "{benign}");
    assert!(scores.iter().all(|s| s.2 > benign + 0.2), "{scores:?} against {benign}");
    let chapter = chapter.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        chapter.contains("always answering the training rows' majority class (benign, also the test rows' majority")
    );
}

/// The VAE chapter's pictures of the model are what the code draws from the book's configuration
/// (sizes in the network picture included), byte for byte.
#[test]
fn model_pictures_are_what_the_code_draws() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = report::book_configs();
    for drawn in report::model_pictures(&cfg.model, dir.path()).unwrap() {
        let name = drawn.file_name().unwrap();
        let committed = book_src().join("figures").join(name);
        assert!(
            std::fs::read(&drawn).unwrap() == std::fs::read(&committed).unwrap(),
            "{} differs from what the code draws: run `cargo run --release -- figures --chapter vae`",
            committed.display()
        );
    }
    let chapter = std::fs::read_to_string(book_src().join("vae.md")).unwrap();
    for name in report::MODEL_PICTURES {
        assert!(chapter.contains(&format!("figures/{name}")), "vae.md does not show {name}");
    }
}
