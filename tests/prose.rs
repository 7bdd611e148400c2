//! Claims of the prose that no table carries: the notation, and the corrections to the primer
//! this book grew from (issue 13, "The seed"). Each test fails if a later edit undoes one.

use std::path::Path;

/// A chapter's text with runs of whitespace folded to one space, so that line breaks do not matter.
fn chapter(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn all_chapters() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (chapter(&n), n)).collect()
}

#[test]
fn sigma_is_a_standard_deviation_and_never_the_logistic_function() {
    let intro = chapter("introduction.md");
    assert!(intro.contains(r"The symbol $\sigma$ is always a standard deviation"));
    assert!(intro.contains(r"is written $\mathrm{sigmoid}(l)$"));
    for (text, name) in all_chapters() {
        // `\sigma(` and `\sigma\big(` would be the logistic function applied to something.
        for bad in [r"\sigma(", r"\sigma\big(", r"\sigma\left("] {
            assert!(!text.contains(bad), "{name} writes the logistic function as sigma: {bad}");
        }
    }
}

#[test]
fn the_snippet_box_lists_seven_mistakes_and_what_is_right() {
    let vae = chapter("vae.md");
    let start = vae.find("### A broken snippet").expect("vae.md lost the snippet box");
    let snippet = &vae[start..vae[start..].find("</div>").map(|e| start + e).unwrap()];
    for n in 1..=7 {
        assert!(snippet.contains(&format!(" {n}. **")), "the snippet box lost mistake {n}");
    }
    assert!(!snippet.contains(" 8. **"), "the box has more mistakes than the exercise says");
    assert!(vae.contains("Rewrite the TensorFlow snippet in Rust without its seven mistakes"));
    for claim in [
        "`x_train` and `y_train` are used but never loaded",
        "scaled to $[0, 1]$",
        "Keras' `Dense` rejects it",
        "The gloss is wrong beyond the sign",
        "What it gets right: its KL",
    ] {
        assert!(snippet.contains(claim), "the snippet box lost: {claim}");
    }
}

#[test]
fn the_primers_terms_are_corrected_where_the_chapters_meet_them() {
    let bayes = chapter("bayes.md");
    assert!(bayes.contains("calls the VAE an *implicit* model"));
    assert!(bayes.contains("Both kinds of model are *explicit*"));
    assert!(bayes.contains("a GAN's generator is one"));
    let text = chapter("text-vae.md");
    assert!(text.contains("lists \"mode collapse\""));
    assert!(text.contains("That name belongs to GANs"));
    let sequences = chapter("sequences.md");
    assert!(sequences.contains("with an unindexed $z$"));
    assert!(sequences.contains("each step needs its own $z_t$"));
}

/// The IWAE chapter's sentences about Burda et al.'s Table 1 follow from the quoted rows.
#[test]
fn the_iwae_chapter_reads_burdas_table_correctly() {
    use vae_book::report::iwae::BURDA_TABLE_1;
    let one: Vec<_> = BURDA_TABLE_1.iter().filter(|r| r.stochastic_layers == 1).collect();
    let (k1, k5, k50) = (one[0], one[1], one[2]);
    assert_eq!((k1.k, k5.k, k50.k), (1, 5, 50));
    // k = 1: the two objectives are the same.
    assert_eq!(k1.vae_nll, k1.iwae_nll);
    let text = chapter("iwae.md");
    // "more samples help the IWAE several times more than they help a VAE that averages the same samples"
    assert!(text.contains("more samples help the IWAE four to five times as much"));
    for layers in [1, 2] {
        let rows: Vec<_> = BURDA_TABLE_1.iter().filter(|r| r.stochastic_layers == layers).collect();
        let (first, last) = (rows[0], rows[rows.len() - 1]);
        let (vae_gain, iwae_gain) = (first.vae_nll - last.vae_nll, first.iwae_nll - last.iwae_nll);
        let ratio = iwae_gain / vae_gain;
        assert!((4.0..=5.0).contains(&ratio) && vae_gain > 0.0, "{layers} layers: VAE {vae_gain}, IWAE {iwae_gain}");
    }
    // "IWAE training keeps more latent units active"
    for r in [k5, k50] {
        let (v, i): (usize, usize) = (r.vae_active.parse().unwrap(), r.iwae_active.parse().unwrap());
        assert!(i > v, "k = {}: IWAE {i} active units, VAE {v}", r.k);
    }
    // Exercise 2: a VAE averaging five samples stays closer to the k = 1 VAE than to the k = 5 IWAE.
    assert!(text.contains("such a VAE stays closer to the VAE with $k = 1$"));
    assert!((k5.vae_nll - k1.vae_nll).abs() < (k5.vae_nll - k5.iwae_nll).abs());
    // Every MNIST entry is quoted: no dash in the paper's columns.
    let table = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/generated/iwae-paper.md"))
        .unwrap();
    for row in &BURDA_TABLE_1 {
        let cells = format!(
            "| {} | {} | {:.2} ({}) | {:.2} ({}) |",
            row.stochastic_layers, row.k, row.vae_nll, row.vae_active, row.iwae_nll, row.iwae_active
        );
        assert!(table.contains(&cells), "iwae-paper.md lacks {cells}");
    }
}
