//! The sequence chapters: the VRNN on chorales and digit rows, and the sentence VAE.

use super::*;

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
    // "the party sentences come from the addresses of 13 years, only 4 of them Democratic"
    let sentences = vae_book::data::sotu::embedded().unwrap();
    let party_test = sentences.iter().filter(|s| {
        s.split == vae_book::data::sotu::SotuSplit::Test
            && s.tokens.len() <= r.config.max_words
            && (s.party == "Democratic" || s.party == "Republican")
    });
    let years: std::collections::BTreeMap<u16, &str> = party_test.clone().map(|s| (s.year, s.party.as_str())).collect();
    assert_eq!(party_test.count(), r.party_test_sentences);
    let democratic = years.values().filter(|p| **p == "Democratic").count();
    says(format!("from the addresses of {} years, only {democratic} of them Democratic", years.len()));
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
