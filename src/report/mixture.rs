//! The Bayes chapter's explicit model: a Gaussian mixture fitted by EM to the iris flowers' petals.

use super::{ReportError, write_generated};
use crate::classic::gmm::{self, EmFit};
use crate::data::tabular::{self, IRIS_FEATURES};
use crate::plot;
use crate::prob::SeededRng;
use std::path::{Path, PathBuf};

/// Petal length and width (the columns that separate the species best).
const COLUMNS: [usize; 2] = [2, 3];
/// The measurements are rounded to 0.1 cm: the variance of that rounding, 0.1^2 / 12, is added to
/// every component's variances, so no component can shrink onto a few identical points.
pub const ROUNDING_VARIANCE: f64 = 0.01 / 12.0;
const SEED: u64 = 1;
/// EM runs from different starting points per number of components.
pub const RESTARTS: usize = 10;
const MAX_ITERATIONS: usize = 500;
const COMPONENTS: [usize; 5] = [1, 2, 3, 4, 5];

/// The petals, as points in cm.
pub fn petals() -> Result<Vec<[f64; 2]>, ReportError> {
    let t = tabular::iris()?.columns(&COLUMNS);
    Ok((0..t.rows()).map(|i| [t.row(i)[0], t.row(i)[1]]).collect())
}

/// The mixtures with 1 to 5 components (the best of [`RESTARTS`] EM runs each), with every run's
/// final mean log-likelihood.
pub fn fits() -> Result<Vec<(usize, EmFit, Vec<f64>)>, ReportError> {
    let xs = petals()?;
    Ok(COMPONENTS
        .iter()
        .map(|&k| {
            let (fit, finals) = gmm::fit_em_restarts(&xs, k, MAX_ITERATIONS, ROUNDING_VARIANCE, RESTARTS, SEED);
            (k, fit, finals)
        })
        .collect())
}

/// The chapter's tables: log-likelihood and BIC against the number of components, and the
/// three-component fit against the species.
pub fn tables(fits: &[(usize, EmFit, Vec<f64>)]) -> Result<Vec<(&'static str, String)>, ReportError> {
    let xs = petals()?;
    let best = fits.iter().map(|(k, f, _)| (*k, gmm::bic(&f.mixture, &xs))).min_by(|a, b| a.1.total_cmp(&b.1));
    let mut choice = format!(
        "| components | log p(x) per flower (nats), best of {RESTARTS} starts | worst of the {RESTARTS} | starts within 0.001 of the best | EM iterations of the best | BIC |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for (k, fit, finals) in fits {
        let bic = gmm::bic(&fit.mixture, &xs);
        let mark = if best.map(|b| b.0) == Some(*k) { " (lowest)" } else { "" };
        let top = fit.mixture.mean_log_likelihood(&xs);
        let worst = finals.iter().copied().fold(f64::INFINITY, f64::min);
        let reached = finals.iter().filter(|f| **f > top - 1e-3).count();
        choice += &format!(
            "| {k} | {top:.4} | {worst:.4} | {reached} | {} | {bic:.1}{mark} |\n",
            fit.log_likelihood.len() - 1,
        );
    }
    let species = tabular::iris()?;
    let mut components = String::new();
    if let Some((_, fit, _)) = fits.iter().find(|(k, _, _)| *k == 3) {
        components += "| component | weight | mean (length, width) | s.d. (length, width) | correlation | flowers of each species it takes (setosa, versicolor, virginica) |\n|---:|---:|---|---|---:|---|\n";
        let assigned: Vec<usize> = xs
            .iter()
            .map(|&x| {
                let r = fit.mixture.responsibilities(x);
                (0..r.len()).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0)
            })
            .collect();
        for (j, (w, c)) in fit.mixture.weights.iter().zip(&fit.mixture.components).enumerate() {
            let (s0, s1) = (c.cov[0][0].sqrt(), c.cov[1][1].sqrt());
            let counts: Vec<String> = (0..3)
                .map(|s| {
                    let n = assigned.iter().zip(&species.labels).filter(|(a, l)| **a == j && **l == s).count();
                    n.to_string()
                })
                .collect();
            components += &format!(
                "| {} | {w:.3} | ({:.2}, {:.2}) | ({s0:.2}, {s1:.2}) | {:.2} | {} |\n",
                j + 1,
                c.mean[0],
                c.mean[1],
                c.cov[0][1] / (s0 * s1),
                counts.join(", ")
            );
        }
    }
    Ok(vec![("gmm-choice.md", choice), ("gmm-components.md", components)])
}

/// The data with the fitted components, and fresh samples from the fitted model.
pub fn figures(fits: &[(usize, EmFit, Vec<f64>)], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let Some((_, fit, _)) = fits.iter().find(|(k, _, _)| *k == 3) else {
        return Ok(Vec::new());
    };
    let xs = petals()?;
    let table = tabular::iris()?;
    let to_f32 = |x: &[f64; 2]| (x[0] as f32, x[1] as f32);
    let by_species: Vec<Vec<(f32, f32)>> = (0..3)
        .map(|s| xs.iter().zip(&table.labels).filter(|(_, l)| **l == s).map(|(x, _)| to_f32(x)).collect())
        .collect();
    let ellipses: Vec<(String, Vec<(f32, f32)>)> = fit
        .mixture
        .components
        .iter()
        .enumerate()
        .map(|(j, c)| (format!("component {} (2 s.d.)", j + 1), crate::classic::vi::ellipse(c.mean, c.cov, 2.0, 100)))
        .collect();
    let lines: Vec<(&str, &[(f32, f32)])> = ellipses.iter().map(|(n, p)| (n.as_str(), p.as_slice())).collect();
    let axes = (IRIS_FEATURES[COLUMNS[0]], IRIS_FEATURES[COLUMNS[1]]);
    let how = plot::Lines { size: (760, 560), ..plot::Lines::default() };
    let names = &table.class_names;
    let clouds: Vec<(&str, &[(f32, f32)])> =
        names.iter().map(String::as_str).zip(by_species.iter().map(Vec::as_slice)).collect();
    let data_path = dir.join("gmm-iris.png");
    plot::overlay(&clouds, &lines, how, "Iris petals and a 3-component mixture fitted by EM", axes, &data_path)?;

    let samples = drawn(fit, xs.len());
    let by_component: Vec<Vec<(f32, f32)>> =
        (0..3).map(|j| samples.iter().filter(|(_, k)| *k == j).map(|(x, _)| to_f32(x)).collect()).collect();
    let labels = ["drawn from component 1", "drawn from component 2", "drawn from component 3"];
    let clouds: Vec<(&str, &[(f32, f32)])> = labels.into_iter().zip(by_component.iter().map(Vec::as_slice)).collect();
    let sample_path = dir.join("gmm-samples.png");
    // Each component in the colour of its ellipse in the figure of the petals (after the species').
    let paired = plot::Lines { paired: true, color_offset: by_species.len(), ..how };
    plot::overlay(&clouds, &lines, paired, "150 flowers sampled from the fitted mixture", axes, &sample_path)?;
    Ok(vec![data_path, sample_path])
}

/// The flowers of the samples figure: `n` seeded draws from the fitted mixture, each with the
/// component it came from.
pub fn drawn(fit: &EmFit, n: usize) -> Vec<([f64; 2], usize)> {
    fit.mixture.sample(n, &mut SeededRng::new(SEED))
}

/// Writes the mixture's tables and figures under `book_src`.
pub fn book(book_src: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let fits = fits()?;
    let mut written = figures(&fits, &book_src.join("figures"))?;
    written.extend(write_generated(book_src, tables(&fits)?)?);
    Ok(written)
}
