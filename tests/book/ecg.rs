//! The heartbeat chapter: its tables are what the code makes of its JSON, and every number and
//! comparison in its prose is read from that JSON here.

use super::*;
use report::ecg::{self, AUTOENCODER, EcgReportConfig, EcgResults, MEAN_BEAT, MethodResult, PCA, VAE_ELBO, VAE_NLL};

fn results() -> EcgResults {
    let path = report::generated_dir(&book_src()).join("ecg.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn chapter() -> String {
    let text = std::fs::read_to_string(book_src().join("ecg.md")).unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn mean(v: &[f64]) -> f64 {
    report::mean_sd(v).0
}

#[test]
fn ecg_tables_are_generated_from_the_book_configuration() {
    let r = results();
    assert_eq!(r.config, EcgReportConfig::book());
    let read = |name: &str| std::fs::read_to_string(report::generated_dir(&book_src()).join(name)).unwrap();
    assert_eq!(read("ecg-beats.md"), format!("{}\n", ecg::beats_table(&r)));
    assert_eq!(read("ecg-sizes.md"), format!("{}\n", ecg::sizes_table(&r)));
    assert_eq!(read("ecg-scores.md"), format!("{}\n", ecg::scores_table(&r)));
    // The chosen size is the sweep's best, and what `vae train --model ecg` trains by default.
    let best = r.sizes.iter().min_by(|a, b| a.validation.total_cmp(&b.validation)).unwrap();
    assert_eq!((best.hidden, best.latent), r.chosen);
    let cli = vae_book::models::ecg_vae::EcgConfig::default().model;
    assert_eq!((cli.hidden, cli.latent_dim), r.chosen);
    let names: Vec<&str> = r.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, [MEAN_BEAT, PCA, AUTOENCODER, VAE_ELBO, VAE_NLL]);
    for m in &r.methods[2..] {
        assert_eq!(m.aucs.len(), r.config.seeds.len(), "{}", m.name);
    }
}

#[test]
fn ecg_prose_matches_its_results() {
    let (r, text) = (results(), chapter());
    let says = |s: &str| assert!(text.contains(s), "the chapter must say: {s}");
    let c = &r.counts;
    let b = &r.config.beats;
    assert_eq!((b.validation_from, b.split_at, b.wide_from), (144.0, 180.0, 0.04));
    says(
        "The narrow beats of the first 144 s train the model, the narrow beats of the next 36 s are the validation set",
    );
    assert!(c.narrow_width_ms < 30.0 && c.wide_width_ms > 40.0);
    says(&format!(
        "Narrow beats have a median width of {:.0} ms by this measure and wide ones {:.0} ms, and only {} beats fall between 30 and 40 ms",
        c.narrow_width_ms, c.wide_width_ms, c.near_the_line
    ));
    says(&format!("scoring uses the best single value for all training beats: {:.2} mV", r.sigma_mv));
    let epochs: Vec<usize> = r.sizes.iter().map(|s| s.best_epoch).collect();
    let (lo, hi) = (epochs.iter().min().unwrap(), epochs.iter().max().unwrap());
    let patience = r.config.run.patience.unwrap();
    assert!(hi + patience < r.config.run.epochs, "a run reached the cap");
    says(&format!(
        "the best epochs come after {lo} to {hi} epochs, depending on the size, and none of them reaches the cap of 1,000"
    ));
    sizes_sentence_holds(&r, &says);
    assert!((0.5..2.0).contains(&r.train_seconds), "{}", r.train_seconds);
    says("One run of the chosen size takes about a second here");
    ranking_sentences_hold(&r, &says);
    threshold_sentences_hold(&r, &says);
    typical_beats_are_as_described(&r, &says);
    let beta = 2.0 * r.sigma_mv * r.sigma_mv;
    assert!((0.004..0.006).contains(&beta), "{beta}");
    says("a squared-error VAE with $\\beta = 2\\sigma^2 \\approx 0.005$");
    for anchor in ["98.79%", "91.70%, rising to 93.30%", "\"nearly 0.95 AUC\""] {
        says(anchor);
    }
}

fn sizes_sentence_holds(r: &EcgResults, says: &dyn Fn(&str)) {
    let of = |latent: usize| r.sizes.iter().filter(move |s| s.latent == latent).map(|s| s.validation);
    assert!(of(8).fold(f64::MIN, f64::max) < of(4).fold(f64::MAX, f64::min), "8-D beats every 4-D");
    assert!(of(4).fold(f64::MIN, f64::max) < of(2).fold(f64::MAX, f64::min), "4-D beats every 2-D");
    let mut eight: Vec<f64> = of(8).collect();
    eight.sort_by(f64::total_cmp);
    says(&format!(
        "among the three 8-dimensional models the best two are {:.2} nats per beat apart",
        eight[1] - eight[0]
    ));
}

fn ranking_sentences_hold(r: &EcgResults, says: &dyn Fn(&str)) {
    let m = |name: &str| -> &MethodResult { r.method(name).unwrap() };
    let aucs: Vec<(&str, f64)> = r.methods.iter().map(|m| (m.name.as_str(), mean(&m.aucs))).collect();
    assert!(aucs.iter().all(|(_, a)| *a > 0.98), "{aucs:?}");
    let pca = mean(&m(PCA).aucs);
    assert!(aucs.iter().all(|(n, a)| *n == PCA || *a < pca));
    let (avg, elbo) = (mean(&m(MEAN_BEAT).aucs), mean(&m(VAE_ELBO).aucs));
    assert!(avg > elbo);
    says(&format!(
        "PCA's error has the highest AUC ({pca:.4}), and the distance to the average beat ({avg:.4}) is above the VAE's −ELBO ({elbo:.4})"
    ));
    let (c, se) = (&r.counts, r.auc_standard_error(elbo));
    assert!((0.005..0.015).contains(&se), "{se}");
    says(&format!(
        "With {} wide and {} narrow test beats, an AUC near 0.99 has a standard error of about 0.01",
        c.test_wide,
        c.test - c.test_wide
    ));
    let gaps: Vec<f64> = r.methods.iter().map(|m| pca - mean(&m.aucs)).collect();
    assert!(gaps.iter().all(|g| *g < 2.0 * se), "every gap, PCA's lead included, is within two standard errors");
    says("at this test size none of them is established, PCA's lead included");
    let (e, n) = (&m(VAE_ELBO).aucs, &m(VAE_NLL).aucs);
    assert!(e.iter().zip(n).all(|(e, n)| n < e), "{e:?} {n:?}");
    says("seed by seed, −log p(x) ranks the beats slightly worse than the ELBO, in all five seeds");
}

fn threshold_sentences_hold(r: &EcgResults, says: &dyn Fn(&str)) {
    let pct = |v: &[f64]| 100.0 * mean(v);
    let sens = r.methods.iter().map(|m| pct(&m.sensitivity)).fold(f64::MAX, f64::min);
    let fa: Vec<f64> = r.methods.iter().map(|m| pct(&m.false_alarms)).collect();
    let (fa_lo, fa_hi) = (fa.iter().copied().fold(f64::MAX, f64::min), fa.iter().copied().fold(0.0, f64::max));
    says(&format!(
        "On average over seeds, every method flags at least {sens:.1}% of the wide test beats, but also {fa_lo:.1}% to {fa_hi:.1}% of the narrow ones"
    ));
    let n = r.counts.validation;
    let expected = 100.0 / (n + 1) as f64;
    says(&format!(
        "about one in {} of them would score above the highest of the {n} validation scores ({expected:.1}%)",
        n + 1
    ));
    assert!(fa_lo / expected > 3.0 && fa_hi / expected < 6.5, "{fa_lo} {fa_hi} {expected}");
    says("three to six times as many do");
    // The share of exchangeable new beats above the maximum of n is Beta(1, n): P(share >= r) = (1 - r)^n.
    let tail = |r: f64| 100.0 * (1.0 - r / 100.0).powi(n as i32);
    says(&format!(
        "a rate of {fa_lo:.1}% or more would happen only about {:.0}% of the time, and {fa_hi:.1}% or more about {:.1}%",
        tail(fa_lo),
        tail(fa_hi)
    ));
    let (one_in_lo, one_in_hi) = (100.0 / fa_hi, 100.0 / fa_lo);
    says(&format!("also between one narrow beat in {one_in_hi:.0} and one in {one_in_lo:.0}"));
}

fn typical_beats_are_as_described(r: &EcgResults, says: &dyn Fn(&str)) {
    assert!(r.most_typical.iter().all(|b| !b.wide) && r.least_typical.iter().all(|b| b.wide));
    says("The five most typical test beats are narrow; the five least typical are all wide.");
    let narrow = &r.least_typical_narrow;
    let before_artifact = narrow.iter().filter_map(|b| b.next_beat).fold(0.0, f64::max);
    assert!(before_artifact > 3.0);
    says(&format!("(the detector finds no beat in the next {before_artifact:.1} s)"));
    let crowded = narrow.iter().filter(|b| b.next_wide == Some(true) && b.next_beat.is_some_and(|n| n < 0.55)).count();
    assert!(crowded >= 2, "{narrow:?}");
    says("beats followed so closely by a wide beat that it enters the window");
    let broad = narrow.iter().map(|b| b.width_ms).fold(0.0, f64::max);
    assert!((30.0..40.0).contains(&broad));
    let first = &narrow[0]; // the least typical narrow beat: crowded and the broadest
    assert!(first.width_ms == broad && first.next_wide == Some(true) && first.next_beat.unwrap() < 0.45);
    says(&format!("the least typical of them also wider than usual ({broad:.0} ms) but below the rule's 40 ms"));
}

/// The detector's two mistakes that the chapter names are in its output.
#[test]
fn ecg_detector_mistakes_are_as_described() {
    use vae_book::data::ecg::{self as record, BeatConfig};
    let signal = record::embedded().unwrap();
    let times: Vec<f64> = record::beats(&signal, &BeatConfig::default()).iter().map(|b| b.time()).collect();
    let spike = times.iter().position(|t| (t - 1.28).abs() < 0.01).expect("a beat at 1.28 s");
    assert!((0.3..0.37).contains(&(times[spike] - times[spike - 1])), "a third of a second after a real one");
    let gap = times.windows(2).find(|w| w[0] > 205.0 && w[0] < 212.0 && w[1] - w[0] > 5.0);
    assert!(gap.is_some(), "no beat for five seconds after 209 s");
    let text = chapter();
    assert!(text.contains("it takes a spike for a beat (at 1.28 s, a third of a second after a real one; the spike becomes a training beat below)"));
    let set =
        vae_book::data::ecg::EcgSet::embedded(BeatConfig::default(), &vae_book::candle_core::Device::Cpu).unwrap();
    let at_spike = set.beats.iter().find(|b| (b.time() - 1.28).abs() < 0.01).unwrap();
    assert_eq!(at_spike.role, vae_book::data::ecg::Role::Train);
    assert!(text.contains("in the large artifact after 209 s it finds no beat for five seconds"));
}
