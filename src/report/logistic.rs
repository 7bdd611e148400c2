//! The VI chapter's non-conjugate example: Bayesian logistic regression on the breast cancer data,
//! a mean-field Gaussian fitted by gradient VI against a long Hamiltonian Monte Carlo run.

use super::{ReportError, write_generated};
use crate::classic::logistic::{self, Chain, HmcConfig, LogisticData, LogisticModel, LogisticVi};
use crate::data::tabular;
use crate::plot;
use crate::prob::SeededRng;
use std::path::{Path, PathBuf};

pub const TEST_ROWS: usize = 169;
pub const PRIOR_VAR: f64 = 1.0;
const SPLIT_SEED: u64 = 0;
pub const HMC: HmcConfig = HmcConfig { step_size: 0.05, leapfrog_steps: 20, warmup: 500, draws: 5000, seed: 1 };
pub const VI_STEPS: usize = 3000;
pub const VI_SAMPLES: usize = 16;
const VI_LR: f64 = 0.05;
const VI_SEED: u64 = 3;
/// Draws for the Monte Carlo ELBO and for the importance-sampling estimate of `log p(y)`.
pub const ESTIMATE_DRAWS: usize = 20_000;

/// Everything the chapter reports.
pub struct LogisticResults {
    pub model: LogisticModel,
    pub test: LogisticData,
    pub map: Vec<f64>,
    /// Two chains: one started at the posterior mode, one at the origin.
    pub chains: [Chain; 2],
    pub vi: LogisticVi,
    pub elbo: (f64, f64),
    /// `log p(y)`, its standard error, and the effective sample size of the weights.
    pub log_evidence: (f64, f64, f64),
}

impl LogisticResults {
    /// Both chains' draws together.
    pub fn pooled(&self) -> Chain {
        let [a, b] = &self.chains;
        let draws = a.draws.iter().chain(&b.draws).copied().collect();
        Chain { draws, dim: a.dim, acceptance: (a.acceptance + b.acceptance) / 2.0 }
    }
}

/// Runs the experiment (about 7 seconds on two cores, mostly the HMC chains).
pub fn results() -> Result<LogisticResults, ReportError> {
    let (train, test) = logistic::split(&tabular::breast_cancer()?, TEST_ROWS, SPLIT_SEED);
    let model = LogisticModel { data: train, prior_var: PRIOR_VAR };
    let map = model.map(5000);
    let chains = [
        logistic::hmc(&model, HMC, &map),
        logistic::hmc(&model, HmcConfig { seed: HMC.seed + 1, ..HMC }, &vec![0.0; model.dim()]),
    ];
    let vi = logistic::fit_vi(&model, VI_STEPS, VI_SAMPLES, VI_LR, VI_SEED)?;
    let elbo = logistic::elbo(&model, &vi.q, ESTIMATE_DRAWS, 5);
    let mut r = LogisticResults { model, test, map, chains, vi, elbo, log_evidence: (f64::NAN, f64::NAN, 0.0) };
    let pooled = r.pooled();
    let (mean, _) = pooled.moments();
    let proposal = logistic::FullGaussian::new(mean, &pooled.covariance()).ok_or_else(|| ReportError::File {
        path: "breast_cancer.csv".into(),
        msg: "the HMC draws' covariance is not positive definite".into(),
    })?;
    r.log_evidence = logistic::log_evidence(&r.model, &proposal, ESTIMATE_DRAWS, 6);
    Ok(r)
}

fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    r.sort_by(f64::total_cmp);
    r
}

/// The share of `data`'s rows labelled benign (`y = 1`).
pub fn benign_share(data: &LogisticData) -> f64 {
    data.y.iter().sum::<f64>() / data.rows().max(1) as f64
}

/// The chapter's tables.
pub fn tables(r: &LogisticResults) -> Vec<(&'static str, String)> {
    let features = r.model.dim() - 1; // the intercept aside
    let data = format!(
        "| | |\n|---|---:|\n| training rows | {} |\n| test rows | {} |\n| features (standardized) + intercept | {} + 1 |\n\
         | prior on every weight | N(0, {PRIOR_VAR}) |\n| benign share in training rows | {:.1}% |\n\
         | benign share in test rows: the accuracy of always answering benign | {:.1}% |\n",
        r.model.data.rows(),
        r.test.rows(),
        features,
        100.0 * benign_share(&r.model.data),
        100.0 * benign_share(&r.test)
    );
    let [a, b] = &r.chains;
    let ((ma, sa), (mb, _)) = (a.moments(), b.moments());
    let chains_agree = ma.iter().zip(&mb).zip(&sa).map(|((x, y), s)| (x - y).abs() / s).fold(0.0, f64::max);
    let pooled = r.pooled();
    let (mean, sd) = pooled.moments();
    let sd_ratio = ratios(&r.vi.q.sd, &sd);
    let mean_shift = r.vi.q.mean.iter().zip(&mean).zip(&sd).map(|((q, m), s)| (q - m).abs() / s).fold(0.0, f64::max);
    let (elbo, elbo_se) = r.elbo;
    let (log_p, log_p_se, ess) = r.log_evidence;
    let posterior = format!(
        "| quantity | value |\n|---|---:|\n\
         | HMC: draws kept (2 chains × {}), leapfrog steps × step size | {} , {} × {} |\n\
         | HMC: acceptance rate (chain from the mode, chain from 0) | {:.3}, {:.3} |\n\
         | HMC: largest difference between the two chains' means, in posterior s.d. | {chains_agree:.3} |\n\
         | VI: largest distance of q's mean from the HMC mean, in posterior s.d. | {mean_shift:.2} |\n\
         | VI: q's s.d. / HMC s.d., smallest, median, largest of the {} weights | {:.2}, {:.2}, {:.2} |\n\
         | ELBO(q), {ESTIMATE_DRAWS} draws from q | {elbo:.2} ± {elbo_se:.2} |\n\
         | log p(y), importance sampling, {ESTIMATE_DRAWS} draws from a Gaussian fitted to the HMC draws | {log_p:.2} ± {log_p_se:.2} |\n\
         | effective sample size of those importance weights | {ess:.0} |\n\
         | KL(q ‖ p(w∣y)) = log p(y) − ELBO(q) | {:.2} |\n",
        HMC.draws,
        pooled.len(),
        HMC.leapfrog_steps,
        HMC.step_size,
        a.acceptance,
        b.acceptance,
        sd.len(),
        sd_ratio[0],
        sd_ratio[sd_ratio.len() / 2],
        sd_ratio[sd_ratio.len() - 1],
        log_p - elbo
    );
    let mut predictive =
        String::from("| posterior used | test log p(y∣x) per case (nats) | test accuracy |\n|---|---:|---:|\n");
    for (name, lp, acc) in predictive_scores(r) {
        predictive += &format!("| {name} | {lp:.4} | {:.1}% |\n", 100.0 * acc);
    }
    vec![("logistic-data.md", data), ("logistic-posterior.md", posterior), ("logistic-predictive.md", predictive)]
}

/// The posterior predictive on the test cases from the mode, from VI's draws and from HMC's draws:
/// (name, mean `log p(y | x)`, accuracy).
pub fn predictive_scores(r: &LogisticResults) -> Vec<(&'static str, f64, f64)> {
    let pooled = r.pooled();
    let hmc_draws: Vec<Vec<f64>> = (0..pooled.len()).step_by(10).map(|t| pooled.draw(t).to_vec()).collect();
    let mut rng = SeededRng::new(8);
    let q_draws: Vec<Vec<f64>> = (0..hmc_draws.len()).map(|_| r.vi.q.sample(&mut rng)).collect();
    [
        ("the mode only (MAP)", std::slice::from_ref(&r.map)),
        ("VI: draws from q", &q_draws[..]),
        ("HMC draws", &hmc_draws[..]),
    ]
    .into_iter()
    .map(|(name, draws)| {
        let (lp, acc) = logistic::predictive(&r.test, draws);
        (name, lp, acc)
    })
    .collect()
}

/// The pair of weights (intercept excluded) whose HMC draws are most strongly correlated.
pub fn most_correlated_pair(chain: &Chain) -> (usize, usize, f64) {
    let mut best = (1, 2, 0.0f64);
    for i in 1..chain.dim {
        for j in i + 1..chain.dim {
            let (_, c) = chain.covariance2(i, j);
            let rho = c[0][1] / (c[0][0] * c[1][1]).sqrt();
            if rho.abs() > best.2.abs() {
                best = (i, j, rho);
            }
        }
    }
    best
}

/// Posterior standard deviations of every weight, and the most correlated pair of weights.
pub fn figures(r: &LogisticResults, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let pooled = r.pooled();
    let (_, sd) = pooled.moments();
    let points = |v: &[f64]| -> Vec<(f32, f32)> { v.iter().enumerate().map(|(i, &s)| (i as f32, s as f32)).collect() };
    let (hmc_sd, vi_sd) = (points(&sd), points(&r.vi.q.sd));
    let sd_path = dir.join("logistic-sd.png");
    plot::lines(
        &[("HMC (reference)", &hmc_sd[..]), ("mean-field VI", &vi_sd[..])],
        plot::Lines { join: false, integer_x: true, ..plot::Lines::default() },
        "Posterior standard deviation of each weight",
        ("weight (0 = intercept, then the 30 features)", "posterior s.d."),
        &sd_path,
    )?;
    let (i, j, _) = most_correlated_pair(&pooled);
    let cloud: Vec<(f32, f32)> =
        (0..pooled.len()).step_by(4).map(|t| (pooled.draw(t)[i] as f32, pooled.draw(t)[j] as f32)).collect();
    let (mean, cov) = pooled.covariance2(i, j);
    let hmc_ellipse = crate::classic::vi::ellipse(mean, cov, 2.0, 100);
    let q = &r.vi.q;
    let q_cov = [[q.sd[i].powi(2), 0.0], [0.0, q.sd[j].powi(2)]];
    let vi_ellipse = crate::classic::vi::ellipse([q.mean[i], q.mean[j]], q_cov, 2.0, 100);
    let names = tabular::breast_cancer_features();
    let pair_path = dir.join("logistic-pair.png");
    plot::overlay(
        &[("HMC draws", &cloud[..])],
        &[("HMC, 2 s.d.", &hmc_ellipse[..]), ("mean-field q, 2 s.d.", &vi_ellipse[..])],
        plot::Lines { size: (640, 640), equal_axes: true, ..plot::Lines::default() },
        "The two most correlated weights",
        (&format!("weight of {}", names[i - 1]), &format!("weight of {}", names[j - 1])),
        &pair_path,
    )?;
    Ok(vec![sd_path, pair_path])
}

/// Writes the example's tables and figures under `book_src`.
pub fn book(book_src: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let r = results()?;
    let mut written = figures(&r, &book_src.join("figures"))?;
    written.extend(write_generated(book_src, tables(&r))?);
    Ok(written)
}
