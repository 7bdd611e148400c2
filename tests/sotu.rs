//! The State of the Union sentences: what the data README says, clear errors, a vocabulary that
//! round-trips.

use vae_book::data::sotu::{self, SotuSplit, Vocabulary};

#[test]
fn the_embedded_sentences_are_what_the_readme_says() {
    let all = sotu::embedded().unwrap();
    assert_eq!(all.len(), 39_226);
    let count = |s| all.iter().filter(|x| x.split == s).count();
    assert_eq!([count(SotuSplit::Train), count(SotuSplit::Valid), count(SotuSplit::Test)], [31_717, 4_906, 2_603]);
    assert!(all.iter().all(|s| (5..=30).contains(&s.tokens.len())));
    assert_eq!((all[0].year, all.last().unwrap().year), (1790, 2021));
    let republican = all.iter().filter(|s| s.party == "Republican").count();
    assert_eq!(republican, 18_824);
    // No address is in two splits: one year and party never mix splits.
    let mut seen = std::collections::HashMap::new();
    for s in &all {
        let split = *seen.entry((s.year, s.party.clone())).or_insert(s.split);
        assert_eq!(split, s.split, "{} {}", s.year, s.party);
    }
}

#[test]
fn bad_lines_are_named() {
    let err = sotu::parse("f.tsv", "year\tparty\tsplit\ttokens\n1790\tnone\ttrain\n").unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("3 tab-separated fields"), "{err}");
    let err = sotu::parse("f.tsv", "year\tparty\tsplit\ttokens\nabc\tnone\ttrain\ta b\n").unwrap_err().to_string();
    assert!(err.contains("year \"abc\""), "{err}");
    let err = sotu::parse("f.tsv", "year\tparty\tsplit\ttokens\n1790\tnone\tdev\ta b\n").unwrap_err().to_string();
    assert!(err.contains("split \"dev\""), "{err}");
    assert!(sotu::parse("f.tsv", "words\n").unwrap_err().to_string().contains("header"));
}

#[test]
fn the_vocabulary_counts_training_words_and_round_trips() {
    let all = sotu::embedded().unwrap();
    let vocab = Vocabulary::build(all.iter().filter(|s| s.split == SotuSplit::Train), 5);
    assert_eq!(vocab.len(), 4 + 6_624, "special tokens + training words seen at least 5 times");
    assert_eq!(vocab.words[4], "the", "the most frequent word comes first");
    let ids = vocab.encode(&all[0].tokens);
    assert_eq!((ids[0], *ids.last().unwrap()), (Vocabulary::BOS, Vocabulary::EOS));
    let known: Vec<String> =
        all[0].tokens.iter().map(|t| if vocab.id(t) == Vocabulary::UNK { "<unk>".into() } else { t.clone() }).collect();
    assert_eq!(vocab.decode(&ids), known.join(" "));
    assert_eq!(vocab.id("notawordinthecorpus"), Vocabulary::UNK);
}
