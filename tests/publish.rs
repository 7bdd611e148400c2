//! The GitHub Pages workflow publishes what the test command checks: the same scripts, the same
//! pinned tools, the folder mdbook writes. A change to one that the other does not follow fails here.

use std::fs;

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn the_pages_workflow_runs_the_checks_book_scripts() {
    let workflow = read(".github/workflows/book.yml");
    let check = read("scripts/check");
    // The check installs with tools.sh and builds with book.sh; the workflow must do the same.
    assert!(check.contains("step tools bash scripts/tools.sh"), "scripts/check no longer installs with tools.sh");
    assert!(check.contains("step book bash scripts/book.sh check"), "scripts/check no longer builds with book.sh");
    assert!(
        workflow.contains("run: bash scripts/tools.sh python node"),
        "the workflow must install mdbook and KaTeX with tools.sh"
    );
    assert!(workflow.contains("run: bash scripts/book.sh build"), "the workflow must build with scripts/book.sh");
    assert!(
        !workflow.contains("mdbook build"),
        "the workflow must not call mdbook itself (book.sh renders the math first)"
    );
    for group in ["install_python_tools", "install_node_tools"] {
        assert!(read("scripts/tools.sh").contains(group), "tools.sh lost {group}");
    }
}

#[test]
fn the_workflow_uploads_the_folder_mdbook_writes() {
    let workflow = read(".github/workflows/book.yml");
    let config = read("book/book.toml");
    // mdbook writes to `<book root>/book` unless book.toml sets another build-dir.
    assert!(!config.contains("build-dir"), "book.toml sets a build-dir: update the workflow's upload path");
    assert!(workflow.contains("path: book/book"), "the workflow must upload book/book");
    assert!(workflow.contains("branches: [main]"), "the workflow publishes from main");
}
