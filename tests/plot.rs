//! The x-y figures keep their legends off the data: every plotted point is checked against the
//! legend's box, for data that fill every corner of the chart.

use vae_book::plot::{self, Layout, Lines};

/// Points in all four corners and the centre of the data range, where legends usually go.
fn corners(shift: f32) -> Vec<(f32, f32)> {
    vec![(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0), (0.5, 0.5)]
        .into_iter()
        .map(|(x, y)| (x + shift, y + shift))
        .collect()
}

fn assert_legend_clear(layout: &Layout, size: (u32, u32)) {
    let legend = layout.legend.expect("the figure has a legend");
    assert!(legend.x0 >= 0 && legend.y0 >= 0 && legend.x1 <= size.0 as i32 && legend.y1 <= size.1 as i32, "{legend:?}");
    assert!(layout.points.len() >= 10, "the test needs plotted points");
    for &p in &layout.points {
        assert!(!legend.contains(p), "the legend {legend:?} covers the plotted point {p:?}");
    }
}

fn png_size(path: &std::path::Path) -> (u32, u32) {
    let img = image::open(path).unwrap();
    (img.width(), img.height())
}

#[test]
fn legends_never_cover_plotted_points() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (corners(0.0), corners(0.01));
    let long = "a rather long series name that needs a wide legend";
    for how in [
        Lines::default(),
        Lines { dots: true, integer_x: true, ..Lines::default() },
        Lines { join: false, ..Lines::default() },
        Lines { size: (640, 640), equal_axes: true, ..Lines::default() },
    ] {
        let path = dir.path().join("lines.png");
        let layout = plot::lines(&[(long, &a), ("b", &b)], how, "corners", ("x", "y"), &path).unwrap();
        assert_legend_clear(&layout, png_size(&path));
    }
    let path = dir.path().join("overlay.png");
    let layout = plot::overlay(&[("cloud", &a)], &[("line", &b)], Lines::default(), "t", ("x", "y"), &path).unwrap();
    assert_legend_clear(&layout, png_size(&path));
    let path = dir.path().join("scatter.png");
    let pts: Vec<(f32, f32)> = (0..10).flat_map(|c| corners(c as f32 * 0.001)).collect();
    let labels: Vec<u8> = (0..10u8).flat_map(|c| [c; 5]).collect();
    let layout = plot::scatter_by_class(&pts, &labels, "classes", ("z1", "z2"), &path).unwrap();
    assert_legend_clear(&layout, png_size(&path));
}

#[test]
fn a_log_axis_needs_positive_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.png");
    let how = Lines { log_y: true, ..Lines::default() };
    let ok = [(1.0, 0.01), (2.0, 0.5), (3.0, 20.0)];
    plot::lines(&[("kl", &ok)], how, "log", ("step", "nats"), &path).unwrap();
    let bad = [(1.0, 0.01), (2.0, 0.0)];
    let err = plot::lines(&[("kl", &bad)], how, "log", ("step", "nats"), &path).unwrap_err().to_string();
    assert!(err.contains("a logarithmic axis needs positive values"), "{err}");
}
