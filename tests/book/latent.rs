//! The latent-space and beta-VAE chapters.

use super::*;

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
    // "though β = 0.5 comes within a nat of it in this single run"
    let half = r.runs.iter().find(|run| run.beta == 0.5).unwrap();
    assert!(half.neg_elbo() - best.neg_elbo() < 1.0);
    let text = std::fs::read_to_string(book_src().join("beta-vae.md")).unwrap();
    assert!(text.contains("comes within a nat of it in this single run"));
    // "Only at the largest beta does a unit switch off entirely."
    let (last, rest) = r.runs.split_last().unwrap();
    assert!(last.active_units < 20 && rest.iter().all(|run| run.active_units == 20));
}

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
        "with a batch of {} and {} training digits would be a β of about {hidden:.3}, far below the smallest β above ({smallest})",
        cfg.train.batch_size,
        report::thousands(n)
    );
    assert!(text.contains(&says), "the chapter must say: {says}");
    // AntixK's later fixed weight, against a summed error over 64 x 64 x 3 values, and the
    // Gaussian variance it amounts to (D w = 2 sigma^2, the likelihoods chapter's MSE rule).
    let (d, w) = (64 * 64 * 3, 0.00025);
    let effective = d as f64 * w;
    let says = format!(
        "($D$ = {}) and {w}, about {effective:.1}, a strong weight rather than a weak one (a Gaussian decoder with $\\sigma^2 \\approx {:.1}$",
        report::thousands(d),
        effective / 2.0
    );
    assert!(text.contains(&says), "the chapter must say: {says}");
}

/// A short beta-VAE sweep runs and orders the rates by beta.
#[test]
fn beta_vae_quick_run_orders_rates() {
    let cfg = report::beta_vae::BetaConfig { betas: vec![0.5, 4.0], ..report::beta_vae::BetaConfig::quick() };
    let dir = tempfile::tempdir().unwrap();
    let (r, written) = report::beta_vae::run(&cfg, &candle_core::Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(written.len(), 4);
    assert!(r.runs[1].rate < r.runs[0].rate, "{:?}", r.runs);
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
