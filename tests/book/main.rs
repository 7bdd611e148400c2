//! The book cannot drift from the code: includes resolve to real code, figures exist, and the
//! numbers in the text are what the code produces.

use std::path::{Path, PathBuf};
use vae_book::report::{self, VaeResults};

mod basics;
mod challenges;
mod ecg;
mod images;
mod latent;
mod sequences;
mod world;

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src")
}

fn committed_results() -> VaeResults {
    let path = report::generated_dir(&book_src()).join("vae-results.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
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
        let rounds: Vec<f64> = cells[5].split(',').map(num).collect();
        ratios.insert(cells[1].split_whitespace().next().unwrap().to_string(), (ratio, rounds));
    }
    assert_eq!(ratios.len(), 2, "{md}");
    let (conv, sentence) = (&ratios["convolutional"], &ratios["sentence"]);
    let text = std::fs::read_to_string(book_src().join("compute-cost.md")).unwrap();
    assert!(text.contains("eight to ten times") && conv.0 < 2.0, "{ratios:?}");
    assert!(text.contains("about as fast as PyTorch's `nn.GRU` model") && sentence.0 < 1.2, "{ratios:?}");
    // The takeaway under the table: slower on the conv VAE in every round, the sentence VAE's
    // rounds on both sides of 1.
    assert!(
        text.contains("candle is still slower than PyTorch on the convolutional VAE")
            && conv.1.iter().all(|&r| r > 1.0)
    );
    assert!(text.contains("rounds fall on both sides of 1"));
    assert!(sentence.1.iter().any(|&r| r < 1.0) && sentence.1.iter().any(|&r| r > 1.0), "{ratios:?}");
    xeon_table_agrees(&md, &text);
}

/// The second machine's table: PyTorch faster than on the first machine for both models, candle
/// not, every ratio larger, the sentence VAE at about 1.7.
fn xeon_table_agrees(epyc: &str, text: &str) {
    let xeon = std::fs::read_to_string(report::generated_dir(&book_src()).join("compute-models-xeon.md")).unwrap();
    assert!(xeon.contains("Intel(R) Xeon(R)") && epyc.contains("AMD EPYC"));
    let row = |md: &str, start: &str| -> Vec<f64> {
        let line = md.lines().find(|l| l.starts_with(start)).unwrap();
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        cells[2..5].iter().map(|c| c.trim_matches('*').parse::<f64>().unwrap()).collect()
    };
    for model in ["| convolutional VAE", "| sentence VAE"] {
        let (e, x) = (row(epyc, model), row(&xeon, model));
        assert!(x[1] < e[1] && x[0] >= e[0] && x[2] > e[2], "{model}: EPYC {e:?}, Xeon {x:?}");
    }
    let sentence = row(&xeon, "| sentence VAE")[2];
    assert!((1.6..1.8).contains(&sentence), "{sentence}");
    assert!(text.contains("takes about 1.7 times PyTorch's time on the Xeon"));
    assert!(epyc.contains("x 3 rounds") && xeon.contains("x 2 rounds") && !epyc.contains("| VRNN"));
    assert!(text.contains("with the default two rounds and the VRNN, which the first table lacks"));
    assert!(text.contains("{{#include generated/compute-models-xeon.md}}"));
}

/// The takeaway under the MLP benchmark's split by phase: the plain code spends most of its epoch
/// in the backward pass and the optimizer, and the hand-written step needs about half its time.
#[test]
fn the_hand_written_step_halves_the_plain_epoch() {
    let md = std::fs::read_to_string(report::generated_dir(&book_src()).join("compute-cost.md")).unwrap();
    let phases = |start: &str| -> Vec<f64> {
        let row = md.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no row {start}: {md}"));
        row.split('|').skip(2).filter_map(|c| c.trim().parse().ok()).collect()
    };
    let (plain, manual) = (phases("| plain"), phases("| hand-written"));
    let (backward, optimizer, total) = (plain[1], plain[2], plain[3]);
    assert!(backward + optimizer > 0.5 * total, "{plain:?}");
    let share = manual[manual.len() - 1] / total;
    assert!((0.35..0.65).contains(&share), "{manual:?} against {plain:?}");
    let text = std::fs::read_to_string(book_src().join("compute-cost.md")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("hand-written step trains an epoch in about half of the plain code's time"));
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
            // A cell ending in a loop or block shows its value, `()`: end it with a semicolon.
            let unit = cell["outputs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["data"]["text/plain"] == serde_json::json!(["()"]));
            assert!(!unit, "{name}: a cell displays `()`:\n{src}");
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

/// The compute-cost chapter's line under the notebook-timing table: a warm start takes seconds,
/// a cold one minutes.
#[test]
fn a_warm_notebook_starts_in_seconds_and_a_cold_one_in_minutes() {
    let md = std::fs::read_to_string(report::generated_dir(&book_src()).join("notebook-timing.md")).unwrap();
    let seconds = |start: &str| -> f64 {
        let row = md.lines().find(|l| l.starts_with(start)).unwrap();
        row.trim_end_matches('|').rsplit('|').next().unwrap().trim().parse().unwrap()
    };
    let (cold, warm) = (seconds("| cold"), seconds("| warm"));
    assert!(cold >= 60.0 && warm < 60.0, "cold {cold} s, warm {warm} s");
    let text = std::fs::read_to_string(book_src().join("compute-cost.md")).unwrap();
    assert!(text.contains("start in seconds rather than\nminutes"));
}
