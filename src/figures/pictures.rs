//! Pictures of the VAE itself, drawn before any code in the VAE chapter: the graphical model,
//! the network with its sizes, and where the reparameterization trick lets the gradient flow.

use super::FigureResult;
use crate::diagram::{Diagram, Edge, Node, Plate, Shape, Stroke};
use crate::models::vae::VaeConfig;
use std::path::Path;

/// The generative model `p(z) p(x | z)` (solid) and the inference model `q(z | x)` (dashed), with
/// the plate over the images and the parameters shared by all of them.
pub fn graphical_model(path: &Path) -> FigureResult {
    let node = |id, label, at, shape| Node { id, label, at, shape };
    let nodes = [
        node("z", "z", (320, 120), Shape::Random),
        node("x", "x", (320, 250), Shape::Observed),
        node("phi", "φ", (80, 120), Shape::Text),
        node("theta", "θ", (560, 250), Shape::Text),
        node(
            "key",
            "solid: the generative model p(z) pθ(x | z)\ndashed: the inference model qφ(z | x)\nshaded: observed",
            (320, 385),
            Shape::Text,
        ),
    ];
    let edges = [
        Edge::new("z", "x", Stroke::Solid).shift(14).label("pθ(x | z)", 1),
        Edge::new("x", "z", Stroke::Dashed).shift(14).label("qφ(z | x)", 1),
        Edge::new("theta", "x", Stroke::Solid),
        Edge::new("phi", "z", Stroke::Dashed),
    ];
    let plates = [Plate { around: &["z", "x"], label: "N images", margin: (130, 16) }];
    let size = (640, 440);
    Diagram { title: "The VAE as a graphical model", size, nodes: &nodes, edges: &edges, plates: &plates }
        .save(path)?;
    Ok(())
}

/// The network of `cfg`, from the pixels to the two terms of the loss.
pub fn network(cfg: &VaeConfig, path: &Path) -> FigureResult {
    let (d, h, k) = (cfg.input_dim, cfg.hidden, cfg.latent_dim);
    let labels = [
        format!("x\n{d} pixels"),
        format!("encoder\n{d} → {h}, ReLU"),
        format!("μ\n{k}"),
        format!("logvar\n{k}"),
        format!("z = μ + σ ⊙ ε, {k}\nσ = exp(logvar / 2)"),
        format!("decoder\n{k} → {h}, ReLU → {d}"),
        format!("logits\n{d}"),
    ];
    let node = |id, i: usize, at, shape| Node { id, label: labels[i].as_str(), at, shape };
    let nodes = [
        node("x", 0, (75, 200), Shape::Observed),
        node("encoder", 1, (265, 200), Shape::Network),
        node("mu", 2, (450, 120), Shape::Computed),
        node("logvar", 3, (450, 280), Shape::Computed),
        Node { id: "kl", label: "KL(q ‖ N(0, I))", at: (590, 200), shape: Shape::Computed },
        Node { id: "eps", label: "ε", at: (820, 80), shape: Shape::Random },
        node("z", 4, (820, 200), Shape::Computed),
        node("decoder", 5, (1040, 200), Shape::Network),
        node("logits", 6, (1040, 330), Shape::Computed),
        Node { id: "recon", label: "−log pθ(x | z)\nBernoulli, against x", at: (790, 330), shape: Shape::Computed },
    ];
    let solid = |from, to| Edge::new(from, to, Stroke::Solid);
    let edges = [
        solid("x", "encoder"),
        solid("encoder", "mu"),
        solid("encoder", "logvar"),
        solid("mu", "z"),
        solid("logvar", "z"),
        solid("eps", "z").label("N(0, I)", -1),
        solid("z", "decoder"),
        solid("decoder", "logits"),
        solid("logits", "recon"),
        solid("mu", "kl"),
        solid("logvar", "kl"),
    ];
    let title = "The VAE's network: loss = reconstruction + KL, in nats per image";
    Diagram { title, size: (1160, 400), nodes: &nodes, edges: &edges, plates: &[] }.save(path)?;
    Ok(())
}

/// Two computation graphs of a loss `f(z)`: with `z` drawn from `N(μ, σ²)` no gradient reaches
/// `μ` and `σ`; with `z = μ + σ ε` it does (red arrows, backwards).
pub fn reparameterization(path: &Path) -> FigureResult {
    let node = |id, label, at, shape| Node { id, label, at, shape };
    let nodes = [
        node("left", "Sampled: z ~ N(μ, σ²)", (250, 385), Shape::Text),
        node("phi1", "φ", (45, 200), Shape::Text),
        node("mu1", "μ", (150, 135), Shape::Computed),
        node("sigma1", "σ", (150, 265), Shape::Computed),
        node("z1", "z", (290, 200), Shape::Random),
        node("f1", "f(z)", (430, 200), Shape::Computed),
        node("none", "no gradient comes back\nthrough a random draw", (290, 310), Shape::Text),
        node("right", "Reparameterized: z = μ + σ ⊙ ε", (780, 385), Shape::Text),
        node("phi2", "φ", (575, 200), Shape::Text),
        node("mu2", "μ", (680, 135), Shape::Computed),
        node("sigma2", "σ", (680, 265), Shape::Computed),
        node("eps", "ε", (840, 85), Shape::Random),
        node("z2", "z", (840, 200), Shape::Computed),
        node("f2", "f(z)", (990, 200), Shape::Computed),
    ];
    let solid = |from, to| Edge::new(from, to, Stroke::Solid);
    let back = |from, to, label| Edge::new(from, to, Stroke::Gradient).shift(10).label(label, 1);
    let edges = [
        solid("phi1", "mu1"),
        solid("phi1", "sigma1"),
        solid("mu1", "z1"),
        solid("sigma1", "z1"),
        solid("z1", "f1"),
        back("f1", "z1", "∂f/∂z"),
        solid("phi2", "mu2"),
        solid("phi2", "sigma2"),
        solid("mu2", "z2"),
        solid("sigma2", "z2"),
        solid("eps", "z2").label("ε ~ N(0, I)", 1),
        solid("z2", "f2"),
        back("f2", "z2", "∂f/∂z"),
        back("z2", "mu2", "× 1"),
        back("z2", "sigma2", "× ε"),
        back("mu2", "phi2", ""),
        back("sigma2", "phi2", ""),
    ];
    let title = "Where the gradient flows (black: forward, red: backward)";
    Diagram { title, size: (1060, 420), nodes: &nodes, edges: &edges, plates: &[] }.save(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pictures pass their layout check (no overlaps, nothing off the canvas) with the
    /// chapter's sizes and with the 2-D model's, and are written.
    #[test]
    fn the_pictures_are_drawn() {
        let dir = tempfile::tempdir().unwrap();
        graphical_model(&dir.path().join("g.png")).unwrap();
        reparameterization(&dir.path().join("r.png")).unwrap();
        network(&VaeConfig::default(), &dir.path().join("n.png")).unwrap();
        network(&VaeConfig { latent_dim: 2, ..VaeConfig::default() }, &dir.path().join("n2.png")).unwrap();
        for name in ["g.png", "r.png", "n.png", "n2.png"] {
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() > 1000, "{name}");
        }
    }
}
