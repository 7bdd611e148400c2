//! The world-model chapter: its tables are what the code makes of its JSON, and every number and
//! comparison in its prose is read from that JSON here.

use super::*;
use report::world::{self, WorldReportConfig, WorldResults};
use vae_book::data::catch;
use vae_book::models::controller::Inputs;

fn results() -> WorldResults {
    let path = report::generated_dir(&book_src()).join("world.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn chapter() -> String {
    let text = std::fs::read_to_string(book_src().join("world-model.md")).unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn mean(v: &[f64]) -> f64 {
    report::mean_sd(v).0
}

#[test]
fn world_tables_are_generated_from_the_book_configuration() {
    let r = results();
    assert_eq!(r.config, WorldReportConfig::book());
    let read = |name: &str| std::fs::read_to_string(report::generated_dir(&book_src()).join(name)).unwrap();
    assert_eq!(read("world-returns.md"), format!("{}\n", world::returns_table(&r)));
    assert_eq!(read("world-dream.md"), format!("{}\n", world::dream_table(&r)));
    let labels: Vec<&str> = r.kinds.iter().map(|k| k.label.as_str()).collect();
    assert_eq!(labels, world::KINDS.map(|k| k.label()));
    for k in &r.kinds {
        assert_eq!(k.runs.len(), r.config.seeds.len());
        assert!(k.runs.iter().all(|run| run.test_returns.len() == r.config.test_games));
    }
    // `vae train --model world` trains what the chapter trains.
    assert_eq!(r.config.model, vae_book::models::world::WorldConfig::default());
    assert_eq!(r.config.run, vae_book::models::world::BOOK_RUN);
}

#[test]
fn world_game_is_as_the_chapter_describes() {
    let text = chapter();
    let says = |s: &str| assert!(text.contains(s), "the chapter must say: {s}");
    assert_eq!((catch::SIDE, catch::PADDLE.0, catch::DROPS, catch::EPISODE_STEPS), (32, 8, 5, 140));
    assert_eq!((catch::DRIFT, catch::PADDLE_SPEED, catch::RANDOM_SWITCH), ((0.8, 1.6), 1.0, 0.15));
    says("drifting sideways at 0.8 to 1.6 pixels per step");
    says("a paddle 8 pixels wide at the bottom moves at most one pixel per step");
    says("An episode is five balls (140 steps)");
    says("changing it with probability 0.15 per step");
    let r = results();
    let frames = r.config.episodes.0 * (catch::EPISODE_STEPS + 1);
    says(&format!(
        "It trains on every frame of {} random episodes ({} frames; {} more episodes are held out)",
        r.config.episodes.0,
        report::thousands(frames),
        r.config.episodes.1
    ));
    let m = &r.config.model;
    assert_eq!((m.vision.hidden, m.vision.latent_dim, m.memory, m.mixtures), (256, 8, 64, 5));
    assert_eq!(
        (r.config.es.pairs, r.config.es.sigma, r.config.games_per_candidate, r.config.es.generations),
        (16, 0.1, 8, 200)
    );
    says("Each kind of controller is trained from three seeds, for 200 generations.");
    assert_eq!(r.config.seeds.len(), 3);
    assert!(r.kind(Inputs::VisionMemory, true).is_some());
}

fn returns(r: &WorldResults, inputs: Inputs, in_dream: bool) -> (f64, f64) {
    report::mean_sd(&r.kind(inputs, in_dream).unwrap().seed_means())
}

#[test]
fn world_training_sentences_hold() {
    let (r, text) = (results(), chapter());
    let says = |s: &str| assert!(text.contains(s), "the chapter must say: {s}");
    let term = |name: &str| r.held_out.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(r.epochs_run, r.config.run.epochs, "the chapter says the run reached its cap");
    assert!(r.best_epoch + 5 > r.epochs_run, "the held-out loss was still falling at the cap");
    says(&format!("That was epoch {} of the {}, about eight minutes on two cores", r.best_epoch, r.epochs_run));
    assert!((420.0..560.0).contains(&r.train_seconds), "{}", r.train_seconds);
    says(&format!(
        "V reconstructs a frame at a cost of {:.2} nats (its KL term is {:.2} nats), and M predicts the step's outcome at {:.3} nats per step",
        term("recon"),
        term("kl"),
        term("outcome")
    ));
    // The outcome's entropy under the random player's own frequencies: 5 landings per 140 steps,
    // `random_training_mean` of them caught.
    let steps = catch::EPISODE_STEPS as f64;
    let p = [
        1.0 - catch::DROPS as f64 / steps,
        r.random_training_mean / steps,
        (catch::DROPS as f64 - r.random_training_mean) / steps,
    ];
    let entropy: f64 = p.iter().map(|p| -p * p.ln()).sum();
    // Knowing when balls land leaves only caught-or-missed at each landing, at the random
    // player's rate.
    let rate = r.random_training_mean / catch::DROPS as f64;
    let timed = catch::DROPS as f64 / steps * -(rate * rate.ln() + (1.0 - rate) * (1.0 - rate).ln());
    assert!(term("outcome") < entropy / 5.0 && term("outcome") >= timed, "{} {entropy} {timed}", term("outcome"));
    says(&format!(
        "That is far below {entropy:.2}, the cost for a model that knows only how often balls land, but not below {timed:.3}, the cost for one that also knows *when* they land (every {} steps",
        catch::FALL_STEPS
    ));
    says(&format!(
        "its value ({}{:.2} nats per step)",
        if term("next code") < 0.0 { "−" } else { "" },
        term("next code").abs()
    ));
}

#[test]
fn world_results_sentences_hold() {
    let (r, text) = (results(), chapter());
    let says = |s: &str| assert!(text.contains(s), "the chapter must say: {s}");
    let (vm, vm_sd) = returns(&r, Inputs::VisionMemory, false);
    let (v, v_sd) = returns(&r, Inputs::Vision, false);
    let (state, _) = returns(&r, Inputs::State, false);
    let (random, follow, aim) = (mean(&r.random_returns), mean(&r.follow_returns), mean(&r.aim_returns));
    assert!(vm - v > 3.0 * vm_sd.max(v_sd), "the gap dwarfs the seeds' spread");
    says(&format!("catches {vm:.2} balls of 5 on average over three seeds, the one that sees V's code alone {v:.2}"));
    says(&format!("agree to within {vm_sd:.2} and {v_sd:.2} (standard deviations), so the gap of {:.2} balls", vm - v));
    assert_eq!(aim, catch::DROPS as f64);
    says(&format!(
        "far from the {aim:.2} of the rule that reads the drift from the true state, and below the {state:.2} of a linear controller handed the drift"
    ));
    assert!(v < follow);
    says(&format!(
        "The controller on V's code alone catches fewer balls than the rule that follows the ball ({follow:.2})"
    ));
    // The seeds' mean return minus the rule's, game by game, and the standard error of its mean.
    let vm_runs = &r.kind(Inputs::VisionMemory, false).unwrap().runs;
    let diffs: Vec<f64> = (0..r.config.test_games)
        .map(|g| mean(&vm_runs.iter().map(|run| run.test_returns[g]).collect::<Vec<_>>()) - r.follow_returns[g])
        .collect();
    let (d, sd) = report::mean_sd(&diffs);
    let se = sd / (diffs.len() as f64).sqrt();
    assert!(d.abs() < se, "{d} {se}");
    says(&format!(
        "({vm:.2} against {follow:.2}: on the same 100 games, a difference of {d:.2} with a standard error of {se:.2})"
    ));
    assert!(state < aim && state > vm);
    says(&format!("The controller on the true state ({state:.2})"));
    says(&format!("the rule that aims at the landing column ({aim:.2})"));
    assert!(r.kinds.iter().filter(|k| !k.kind.in_dream).all(|k| mean(&k.seed_means()) > random));
    says(&format!(
        "Every player trained in the game is far above the random player whose episodes V and M learned from ({random:.2})"
    ));
    let sd_games = |inputs| {
        let runs = &r.kind(inputs, false).unwrap().runs;
        mean(&runs.iter().map(|run| report::mean_sd(&run.test_returns).1).collect::<Vec<_>>())
    };
    says(&format!(
        "{v:.2} ± {:.2} balls of 5 with V's code alone and {vm:.2} ± {:.2} with M's state",
        sd_games(Inputs::Vision),
        sd_games(Inputs::VisionMemory)
    ));
    says(&format!(
        "a linear controller catches {vm:.2} balls of 5 with M's state and {v:.2} with V's code alone, over three seeds that agree to within {:.2}",
        vm_sd.max(v_sd)
    ));
    let anchors = [
        "632 ± 251",
        "788 ± 141",
        "906 ± 21",
        "1092 ± 556",
        "868 ± 511",
        "2086 ± 140",
        "193 ± 58",
        "210 ± 108",
        "867 and 1,088",
        "\"fail to shoot fireballs due to mode collapse\"",
    ];
    for anchor in anchors {
        says(anchor);
    }
}

#[test]
fn world_dream_sentences_hold() {
    let (r, text) = (results(), chapter());
    let says = |s: &str| assert!(text.contains(s), "the chapter must say: {s}");
    let dreamers = r.kind(Inputs::VisionMemory, true).unwrap();
    let players = r.kind(Inputs::VisionMemory, false).unwrap();
    let means = dreamers.seed_means();
    let (dream, random) = (mean(&means), mean(&r.random_returns));
    let (lo, hi) = (means.iter().copied().fold(f64::MAX, f64::min), means.iter().copied().fold(0.0, f64::max));
    assert!(dream < random);
    says(&format!(
        "the controllers catch {dream:.2} balls on average in the game (seeds from {lo:.2} to {hi:.2}), fewer than the random player ({random:.2})"
    ));
    // At the main temperature the dream rates every game-trained controller below every
    // dream-trained one.
    let in_dream = |k: &world::KindResult| -> Vec<(f64, f64)> { k.runs.iter().map(|run| run.dream.unwrap()).collect() };
    let (played, dreamt) = (in_dream(players), in_dream(dreamers));
    assert!(played.iter().all(|p| dreamt.iter().all(|d| p.0 < d.0)), "{played:?} {dreamt:?}");
    let (g_game, g, d) = (mean(&players.runs[0].test_returns), played[0], dreamt[0]);
    says(&format!(
        "which catches {g_game:.2} balls there, catches {:.2} in the dream at $\\tau = 1$, less than the one trained in the dream at the same temperature ({:.2})",
        g.0, d.0
    ));
    // Over the three seeds: caught and landed in the dream, and the share caught.
    let over_seeds = |v: &[(f64, f64)]| {
        (mean(&v.iter().map(|x| x.0).collect::<Vec<_>>()), mean(&v.iter().map(|x| x.1).collect::<Vec<_>>()))
    };
    let (p, q) = (over_seeds(&played), over_seeds(&dreamt));
    assert!(q.0 > p.0 && q.1 > p.1);
    says(&format!(
        "the dream-trained controllers collect {:.2} caught balls in the dream against {:.2} for the game-trained ones, partly by making M let more balls land ({:.2} against {:.2})",
        q.0, p.0, q.1, p.1
    ));
    let share = |x: (f64, f64)| 100.0 * x.0 / x.1;
    assert!((share(q) - share(p)).abs() < 3.0);
    says(&format!("barely moves ({:.0}% against {:.0}%)", share(q), share(p)));
    // The controllers start from a paddle that never moves: its return in each seed's first games.
    let at_rest =
        mean(&r.kind(Inputs::State, false).unwrap().runs.iter().map(|run| run.curve[0].centre).collect::<Vec<_>>());
    assert!((at_rest - dream).abs() < 0.2, "{at_rest} {dream}");
    says(&format!("which caught {at_rest:.2} balls on average in the first generation's games of the three seeds"));
    let every: Vec<&world::ControllerRun> =
        players.runs.iter().chain(&dreamers.runs).chain(r.temperatures.iter().map(|(_, run)| run)).collect();
    assert!(every.iter().all(|run| run.dream.unwrap().1 < catch::DROPS as f64));
    says("fewer than five in a dream, at every temperature");
    let mut dream_trained = dreamers.runs.iter().chain(r.temperatures.iter().map(|(_, run)| run));
    assert!(dream_trained.all(|run| mean(&run.test_returns) < random));
    let mut temps: Vec<f64> = r.temperatures.iter().map(|(t, _)| *t).chain([r.config.temperature]).collect();
    temps.sort_by(f64::total_cmp);
    assert_eq!(temps, [0.1, 0.5, 1.0, 1.5]);
    says(
        "no controller trained in the dream, at any temperature tried (0.1, 0.5, 1 and 1.5), catches more balls in the game than the random player",
    );
    says("held-out loss was still falling at the cap of 60 epochs");
    says(&format!("the controllers catch about one ball in the game ({dream:.2}), fewer than a random player"));
}

/// The notebook's committed outputs are a full run: both of the book's tables.
#[test]
fn world_notebook_holds_the_book_tables() {
    let r = results();
    let tables = notebook_tables("world-model.ipynb");
    for expected in [world::returns_table(&r), world::dream_table(&r)] {
        assert!(
            tables.iter().any(|t| t.trim() == expected.trim()),
            "notebooks/world-model.ipynb must hold the book's table from a full run:\n{expected}\nfound: {tables:?}"
        );
    }
}
