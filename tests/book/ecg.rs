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
    let m = |name: &str| -> &MethodResult { r.method(name).unwrap() };
    let c = &r.counts;
    assert_eq!((c.train, c.validation), (200, 50));
    says("The narrow beats of the first three minutes train the model (every fifth");
    assert!(c.narrow_width_ms < 40.0 && c.wide_width_ms > 40.0 && r.config.beats.wide_from == 0.04);
    says("we call a beat *wide* when that width is at least 40 ms");
    let epochs: Vec<usize> = r.sizes.iter().map(|s| s.best_epoch).collect();
    let (lo, hi) = (epochs.iter().min().unwrap(), epochs.iter().max().unwrap());
    says(&format!("the validation loss stops improving after {lo} to {hi} epochs, depending on the size"));
    assert!(r.train_seconds < 1.0, "{}", r.train_seconds);
    says("One run of the chosen size takes well under a second here");

    // Every AUC near 1; PCA the best; the average beat within a few thousandths of the VAE.
    let aucs: Vec<(&str, f64)> = r.methods.iter().map(|m| (m.name.as_str(), mean(&m.aucs))).collect();
    assert!(aucs.iter().all(|(_, a)| *a > 0.99), "{aucs:?}");
    let pca = mean(&m(PCA).aucs);
    assert!(aucs.iter().all(|(n, a)| *n == PCA || *a < pca));
    let (avg, elbo, nll) = (mean(&m(MEAN_BEAT).aucs), mean(&m(VAE_ELBO).aucs), mean(&m(VAE_NLL).aucs));
    let gap = elbo - avg;
    assert!(gap > 0.0 && gap < 0.003, "{gap}");
    says(&format!(
        "PCA's error has the highest AUC of all ({pca:.4}), and even the distance to the average beat ({avg:.4}) is within 0.003 of the VAE's −ELBO ({elbo:.4})"
    ));
    let sd = |name: &str| report::mean_sd(&m(name).aucs).1;
    assert!((elbo - nll).abs() < sd(VAE_ELBO).min(sd(VAE_NLL)), "{elbo} {nll}");
    says("The VAE's two scores agree with each other to within their spread over seeds");
    threshold_sentences_hold(&r, &says);
    typical_beats_are_as_described(&r, &says);
    for anchor in ["98.79%", "91.70%, rising to 93.30%", "\"nearly 0.95 AUC\""] {
        says(anchor);
    }
}

fn threshold_sentences_hold(r: &EcgResults, says: &dyn Fn(&str)) {
    let m = |name: &str| r.method(name).unwrap();
    let pct = |v: &[f64]| 100.0 * mean(v);
    let false_alarms = r.methods.iter().map(|m| pct(&m.false_alarms)).fold(0.0, f64::max);
    let learned = [AUTOENCODER, VAE_ELBO, VAE_NLL];
    let means: Vec<f64> = learned.iter().map(|n| pct(&m(n).sensitivity)).collect();
    let sds: Vec<f64> = learned.iter().map(|n| 100.0 * report::mean_sd(&m(n).sensitivity).1).collect();
    let range = |v: &[f64]| (v.iter().copied().fold(f64::MAX, f64::min), v.iter().copied().fold(0.0, f64::max));
    let ((lo, hi), (sd_lo, sd_hi)) = (range(&means), range(&sds));
    assert_eq!(pct(&m(MEAN_BEAT).sensitivity), 0.0);
    says(&format!(
        "every method flags at most {false_alarms:.1}% of the narrow test beats, but it misses wide ones; of those, the distance to the average beat flags none, PCA {:.0}%, and the learned models {lo:.0}% to {hi:.0}% on average, with spreads of {sd_lo:.0} to {sd_hi:.0} percentage points over seeds",
        pct(&m(PCA).sensitivity)
    ));
    assert!(sd_lo >= 10.0, "a spread of tens of points");
}

fn typical_beats_are_as_described(r: &EcgResults, says: &dyn Fn(&str)) {
    assert!(r.most_typical.iter().all(|b| !b.wide) && r.least_typical.iter().all(|b| b.wide));
    says("The five most typical test beats are clean narrow beats; the five least typical are all wide.");
    let narrow = &r.least_typical_narrow;
    let before_artifact = narrow.iter().filter_map(|b| b.next_beat).fold(0.0, f64::max);
    assert!(before_artifact > 3.0);
    says(&format!("(the detector finds no beat in the next {before_artifact:.1} s)"));
    let window_end = r.config.beats.after;
    assert!(narrow.iter().filter(|b| b.next_beat.is_some_and(|n| n < window_end + 0.05)).count() >= 2);
    let broad = narrow.iter().map(|b| b.width_ms).fold(0.0, f64::max);
    assert!((30.0..40.0).contains(&broad));
    says(&format!("a complex wider than usual ({broad:.0} ms) but below the rule's 40 ms"));
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
    assert!(text.contains("it takes a spike for a beat (at 1.28 s, a third of a second after a real one)"));
    assert!(text.contains("in the large artifact after 209 s it finds no beat for five seconds"));
}
