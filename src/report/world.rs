//! The world-model chapter's experiment: V and M trained on a random player's episodes of catch,
//! then linear controllers trained by an evolution strategy on what they see (the true state, V's
//! code, V's code and M's state) and once inside M's dream, each tested on the same 100 games.

use super::{ReportError, generated_dir, mean_sd, write_atomic, write_json};
use crate::cli::world::{HELD_OUT_EPISODES, HELD_OUT_SEED, TRAIN_EPISODES, TRAIN_SEED, dream_figure, game_and_dream};
use crate::data::catch::{self, Rollouts, Rule};
use crate::models::controller::{Arena, CodeTable, Inputs};
use crate::models::world::{self, WorldConfig, WorldData, WorldModel};
use crate::plot::{self, Lines};
use crate::train::es::{self, EsConfig, Generation};
use crate::train::{Run, RunConfig, quick_requested};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The set of test games (see [`catch::game_seeds`]); the random player's episodes use 1 and 2.
pub const TEST_GAMES_SEED: u64 = 3;
/// V and M's training prints a line every this many epochs.
const LOG_EVERY: usize = 10;
/// ES generation `g` of controller seed `s` plays the games of set `ES_GAMES_SEED + 1000 s + g`.
const ES_GAMES_SEED: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldReportConfig {
    pub model: WorldConfig,
    pub run: RunConfig,
    /// Random episodes for training and for stopping early.
    pub episodes: (usize, usize),
    /// The evolution strategy; its seed is replaced by each of `seeds`.
    pub es: EsConfig,
    /// Games each candidate plays per generation (the same games for every candidate).
    pub games_per_candidate: usize,
    /// One controller of each kind per seed.
    pub seeds: Vec<u64>,
    /// Games every trained controller is tested on.
    pub test_games: usize,
    /// M's temperature in the dream.
    pub temperature: f64,
    /// Other temperatures a dream-trained controller is tried at, with the first seed only.
    pub other_temperatures: Vec<f64>,
}

impl WorldReportConfig {
    pub fn book() -> Self {
        Self {
            model: WorldConfig::default(),
            run: world::BOOK_RUN,
            episodes: (TRAIN_EPISODES, HELD_OUT_EPISODES),
            es: EsConfig { pairs: 16, sigma: 0.1, lr: 0.1, generations: 200, seed: 0 },
            games_per_candidate: 8,
            seeds: vec![1, 2, 3],
            test_games: 100,
            temperature: 1.0,
            other_temperatures: vec![0.1, 0.5, 1.5],
        }
    }

    /// A small model, two epochs, three generations, one seed (`VAE_BOOK_QUICK=1`).
    pub fn quick() -> Self {
        let book = Self::book();
        Self {
            run: RunConfig { epochs: 2, ..book.run },
            episodes: (16, 4),
            es: EsConfig { generations: 3, pairs: 4, ..book.es },
            games_per_candidate: 2,
            seeds: vec![1],
            test_games: 5,
            other_temperatures: vec![0.5],
            ..book
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

/// A controller kind: what it sees, and where it trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kind {
    pub inputs: Inputs,
    pub in_dream: bool,
}

/// The kinds of the chapter's table, in its order.
pub const KINDS: [Kind; 4] = [
    Kind { inputs: Inputs::State, in_dream: false },
    Kind { inputs: Inputs::Vision, in_dream: false },
    Kind { inputs: Inputs::VisionMemory, in_dream: false },
    Kind { inputs: Inputs::VisionMemory, in_dream: true },
];

impl Kind {
    pub fn label(&self) -> &'static str {
        match (self.inputs, self.in_dream) {
            (Inputs::State, _) => "C on the true state",
            (Inputs::Vision, _) => "C on V's code",
            (Inputs::VisionMemory, false) => "C on V's code and M's state",
            (Inputs::VisionMemory, true) => "C on V and M, trained in M's dream",
        }
    }
}

/// One trained controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerRun {
    pub seed: u64,
    /// Balls caught in each test game.
    pub test_returns: Vec<f64>,
    /// For a controller that sees M's state: its return in M's dream (from the test games' first
    /// frames, at the configured temperature), and the balls M lets land there.
    pub dream: Option<(f64, f64)>,
    pub curve: Vec<Generation>,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindResult {
    pub kind: Kind,
    pub label: String,
    pub runs: Vec<ControllerRun>,
}

impl KindResult {
    /// The mean test return of each seed's controller.
    pub fn seed_means(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.test_returns.iter().sum::<f64>() / r.test_returns.len() as f64).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldResults {
    pub config: WorldReportConfig,
    /// V's and M's held-out loss terms at the kept epoch, the epochs run, and the seconds.
    pub held_out: Vec<(String, f64)>,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub train_seconds: f64,
    /// The random player (the one that recorded the data) on the test games.
    pub random_returns: Vec<f64>,
    /// The random player's returns in its training episodes.
    pub random_training_mean: f64,
    /// The hand-written players on the test games: following the ball, aiming where it lands.
    pub follow_returns: Vec<f64>,
    pub aim_returns: Vec<f64>,
    pub kinds: Vec<KindResult>,
    /// Dream-trained controllers (first seed) at the other temperatures: `(temperature, run)`.
    pub temperatures: Vec<(f64, ControllerRun)>,
}

impl WorldResults {
    pub fn kind(&self, inputs: Inputs, in_dream: bool) -> Option<&KindResult> {
        self.kinds.iter().find(|k| k.kind.inputs == inputs && k.kind.in_dream == in_dream)
    }
}

/// Trains V and M as `vae train --model world` does.
fn train_world(
    cfg: &WorldReportConfig,
    dev: &Device,
    log: &mut dyn FnMut(String),
) -> Result<(Run<WorldModel>, WorldData, f64), ReportError> {
    let start = Instant::now();
    let data = WorldData {
        train: Rollouts::random(cfg.episodes.0, TRAIN_SEED, dev)?,
        validation: Rollouts::random(cfg.episodes.1, HELD_OUT_SEED, dev)?,
    };
    let mut run = Run::<WorldModel>::new(cfg.model, cfg.run, dev)?;
    run.fit(&data, |e| {
        if e.epoch % LOG_EVERY == 0 {
            log(format!(
                "  epoch {}: held-out loss {:.3} ({:.0} s)",
                e.epoch,
                e.eval.loss,
                start.elapsed().as_secs_f64()
            ));
        }
    })?;
    Ok((run, data, start.elapsed().as_secs_f64()))
}

/// Trains one controller of `kind` with seed `seed` and tests it.
fn controller(
    cfg: &WorldReportConfig,
    arena: &Arena,
    kind: Kind,
    (seed, temperature): (u64, f64),
) -> Result<ControllerRun, ReportError> {
    let start = Instant::now();
    let es_cfg = EsConfig { seed, ..cfg.es };
    let theta = vec![0f32; kind.inputs.width(arena.world) + 1];
    let games = |g: usize| catch::game_seeds(ES_GAMES_SEED + 1000 * seed + g as u64, cfg.games_per_candidate);
    let (theta, curve) = es::evolve(theta, &es_cfg, |candidates, g| {
        if kind.in_dream {
            arena.dream(candidates, &games(g), temperature, seed * 1000 + g as u64)
        } else {
            arena.play(candidates, &games(g))
        }
    })?;
    let test = catch::game_seeds(TEST_GAMES_SEED, cfg.test_games);
    let test_returns = arena.play_each(std::slice::from_ref(&theta), &test)?.remove(0);
    let dream = if kind.inputs == Inputs::VisionMemory {
        let d = arena.dream_each(std::slice::from_ref(&theta), &test, temperature, seed)?[0];
        Some((d.caught, d.landed))
    } else {
        None
    };
    Ok(ControllerRun { seed, test_returns, dream, curve, seconds: start.elapsed().as_secs_f64() })
}

/// Runs the chapter's experiment; returns the results, the trained V and M, and their data.
pub fn run(
    cfg: &WorldReportConfig,
    dev: &Device,
    log: &mut dyn FnMut(String),
) -> Result<(WorldResults, Run<WorldModel>, WorldData), ReportError> {
    log(format!("  world model: V and M on {} random episodes", cfg.episodes.0));
    let (trained, data, train_seconds) = train_world(cfg, dev, log)?;
    let score = trained.history[trained.best.epoch.max(1) - 1].eval.clone();
    let table = CodeTable::new(&trained.model)?;
    let mut kinds = Vec::new();
    for kind in KINDS {
        let arena = Arena { world: &trained.model, table: &table, inputs: kind.inputs };
        let mut runs = Vec::new();
        for &seed in &cfg.seeds {
            let r = controller(cfg, &arena, kind, (seed, cfg.temperature))?;
            log(format!(
                "  {}, seed {seed}: {:.2} balls of {} ({:.0} s)",
                kind.label(),
                mean_sd(&r.test_returns).0,
                catch::DROPS,
                r.seconds
            ));
            runs.push(r);
        }
        kinds.push(KindResult { kind, label: kind.label().to_string(), runs });
    }
    let dreamer = Arena { world: &trained.model, table: &table, inputs: Inputs::VisionMemory };
    let mut temperatures = Vec::new();
    for &t in &cfg.other_temperatures {
        let r = controller(cfg, &dreamer, KINDS[3], (cfg.seeds[0], t))?;
        log(format!("  trained in the dream at temperature {t}: {:.2} balls in the game", mean_sd(&r.test_returns).0));
        temperatures.push((t, r));
    }
    let random = Rollouts::random(cfg.test_games, TEST_GAMES_SEED, dev)?;
    let test = catch::game_seeds(TEST_GAMES_SEED, cfg.test_games);
    let to_f = |r: &[usize]| r.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let results = WorldResults {
        config: cfg.clone(),
        held_out: score.terms,
        best_epoch: trained.best.epoch,
        epochs_run: trained.history.len(),
        train_seconds,
        random_returns: to_f(&random.returns),
        random_training_mean: mean_sd(&to_f(&data.train.returns)).0,
        follow_returns: Rule::Follow.play(&test),
        aim_returns: Rule::Aim.play(&test),
        kinds,
        temperatures,
    };
    Ok((results, trained, data))
}

/// The returns table: balls caught of 5 in the test games, the mean over seeds with its spread,
/// and the spread over games.
pub fn returns_table(r: &WorldResults) -> String {
    let mut out = String::from(
        "| player | trained in | balls caught (of 5), mean over seeds | sd over seeds | sd over games |\n|---|---|---:|---:|---:|\n",
    );
    for (name, returns) in [
        ("random player (the data's)", &r.random_returns),
        ("rule on the true state: follow the ball", &r.follow_returns),
        ("rule on the true state: aim where it lands", &r.aim_returns),
    ] {
        let (m, sd) = mean_sd(returns);
        out.push_str(&format!("| {name} | | {m:.2} | | {sd:.2} |\n"));
    }
    for k in &r.kinds {
        let (m, s) = mean_sd(&k.seed_means());
        let games: Vec<f64> = k.runs.iter().map(|run| mean_sd(&run.test_returns).1).collect();
        let place = if k.kind.in_dream { "M's dream" } else { "the game" };
        out.push_str(&format!("| {} | {place} | {m:.2} | {s:.2} | {:.2} |\n", k.label, mean_sd(&games).0));
    }
    out
}

/// The dream table: controllers that see M's state (first seed), scored in M's dream (balls
/// caught, and balls M lets land: the game always has 5) and in the game.
pub fn dream_table(r: &WorldResults) -> String {
    let mut out = String::from(
        "| controller (first seed) | trained in | temperature | caught in M's dream | landed in M's dream | caught in the game |\n|---|---|---:|---:|---:|---:|\n",
    );
    let t = r.config.temperature;
    let mut rows: Vec<(&str, f64, &ControllerRun)> = Vec::new();
    for k in r.kinds.iter().filter(|k| k.kind.inputs == Inputs::VisionMemory) {
        rows.push((if k.kind.in_dream { "M's dream" } else { "the game" }, t, &k.runs[0]));
    }
    rows.extend(r.temperatures.iter().map(|(t, run)| ("M's dream", *t, run)));
    for (place, t, run) in rows {
        let (caught, landed) = run.dream.unwrap_or((f64::NAN, f64::NAN));
        let game = mean_sd(&run.test_returns).0;
        out.push_str(&format!("| C on V and M | {place} | {t} | {caught:.2} | {landed:.2} | {game:.2} |\n"));
    }
    out
}

/// Writes the figures: a game beside M's dream of it, and the controllers' training curves.
pub fn figures(
    r: &WorldResults,
    run: &Run<WorldModel>,
    data: &WorldData,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let dream = dir.join("world-dream.png");
    dream_figure(game_and_dream(&run.model, &data.validation, run.run.seed)?, &dream)?;
    let curves = dir.join("world-curves.png");
    let series: Vec<(String, Vec<(f32, f32)>)> = r
        .kinds
        .iter()
        .map(|k| {
            let c = &k.runs[0].curve;
            (k.label.clone(), c.iter().enumerate().map(|(g, x)| (g as f32 + 1.0, x.centre as f32)).collect())
        })
        .collect();
    let named: Vec<(&str, &[(f32, f32)])> = series.iter().map(|(n, p)| (n.as_str(), p.as_slice())).collect();
    let how = Lines { integer_x: true, ..Lines::default() };
    let title = "The controllers' training (first seed): the current parameters' return";
    plot::lines(&named, how, title, ("generation", "balls caught of 5, that generation's games"), &curves)?;
    Ok(vec![dream, curves])
}

/// Runs the chapter's experiment and writes its numbers and figures under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let cfg = WorldReportConfig::from_env();
    let (results, run, data) = self::run(&cfg, dev, log)?;
    let generated = generated_dir(book_src);
    let mut written = vec![generated.join("world.json")];
    write_json(&written[0], &results)?;
    for (name, table) in [("world-returns.md", returns_table(&results)), ("world-dream.md", dream_table(&results))] {
        let path = generated.join(name);
        write_atomic(&path, format!("{table}\n").as_bytes())?;
        written.push(path);
    }
    written.extend(figures(&results, &run, &data, &book_src.join("figures"))?);
    Ok(written)
}
