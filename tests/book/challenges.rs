//! The challenges chapter, which reads every other chapter's results.

use super::*;

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
    glance_takeaway_holds(&s);
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

/// The takeaway under the glance table: complete collapse for the per-pixel-mean loss and the plain
/// sentence VAE, a few nats over most units at the largest β, and VAE-GAN samples farther (by the
/// Fréchet distance) from the held-out digits than the VAE's.
fn glance_takeaway_holds(s: &report::challenges::Sources) {
    let digits = &s.likelihoods.data[0];
    let pixel_mean = digits.variants.iter().find(|v| v.pixel_mean).unwrap();
    assert_eq!((pixel_mean.active_units, s.text.vaes[0].active_units), (0, 0));
    let (beta, latent) = (s.beta.runs.last().unwrap(), s.beta.config.train.model.latent_dim);
    assert!(beta.rate < 5.0 && 2 * beta.active_units > latent, "{} nats, {} units", beta.rate, beta.active_units);
    let frechet: Vec<f64> = s.blur.data[0].scores.iter().map(|x| x.frechet).collect();
    assert!(frechet[6] > frechet[2], "VAE-GAN {} against VAE {}", frechet[6], frechet[2]);
    // "after every epoch on the digits; on the clothes ... the comparison turning"
    let (digits, clothes) = (&s.blur.data[0], &s.blur.data[1]);
    assert!(digits.vaegan_curve.iter().zip(&digits.vae_curve).all(|(g, v)| g > v));
    let ahead = clothes.vaegan_curve.iter().zip(&clothes.vae_curve).map(|(g, v)| g < v);
    assert!(ahead.clone().any(|a| a) && ahead.clone().any(|a| !a), "the clothes' order never turns");
    let text = std::fs::read_to_string(book_src().join("challenges.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("the VAE-GAN's samples lie farther from the training digits than the VAE's, not closer"));
    assert!(text.contains("largest β shrinks the KL to a few nats but leaves most units active"));
}
