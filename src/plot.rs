//! Figures drawn with plotters into PNG files: image grids, piano rolls, scatter plots with a legend, curves.
//!
//! Text is rendered with the DejaVu Sans font embedded in the binary (the `dejavu` crate), so
//! figures look the same on every machine and need no system font libraries.

use plotters::coord::types::RangedCoordf32;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::Once;

#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw the figure: {msg}")]
pub struct PlotError {
    pub path: PathBuf,
    pub msg: String,
}

pub type PlotResult = Result<(), PlotError>;

fn err(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |msg| PlotError { path: path.into(), msg }
}

/// Registers the embedded font once per process.
fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Both fonts are valid TrueType files shipped by the crate, so registration succeeds;
        // if it ever did not, text would be missing and plotters would report the error.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn create_dir_for(path: &Path) -> PlotResult {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(path)(format!("cannot create its folder: {e}")))?;
    }
    Ok(())
}

/// Ten colours that stay apart for the ten digit classes (Tableau 10).
pub const CLASS_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A grid of grey images: `images` holds `rows * cols` images of `side * side` values in [0, 1],
/// one after the other, row by row. Ink is dark on a white page. `row_labels`, if given, are
/// written left of each row.
pub struct ImageGrid<'a> {
    pub images: &'a [f32],
    pub side: usize,
    pub rows: usize,
    pub cols: usize,
    pub title: &'a str,
    pub row_labels: Option<&'a [&'a str]>,
    /// Screen pixels per image pixel.
    pub scale: usize,
}

impl ImageGrid<'_> {
    pub fn save(&self, path: &Path) -> PlotResult {
        let e = err(path);
        let per_image = self.side * self.side;
        if self.images.len() != self.rows * self.cols * per_image {
            return Err(e(format!(
                "{} values for a {}x{} grid of {}x{} images (expected {})",
                self.images.len(),
                self.rows,
                self.cols,
                self.side,
                self.side,
                self.rows * self.cols * per_image
            )));
        }
        ensure_font();
        create_dir_for(path)?;
        let gap = 2;
        let cell = self.side * self.scale + gap;
        let left = if self.row_labels.is_some() { 130 } else { 10 };
        let top = 40;
        let width = (left + self.cols * cell + 10) as u32;
        let height = (top + self.rows * cell + 10) as u32;
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let title_style = ("sans-serif", 22).into_font().color(&BLACK);
        root.draw_text(self.title, &title_style, (left as i32, 10)).map_err(|x| e(x.to_string()))?;
        let label_style = ("sans-serif", 16).into_font().color(&BLACK);
        for r in 0..self.rows {
            let y0 = top + r * cell;
            if let Some(label) = self.row_labels.and_then(|l| l.get(r)) {
                let y = (y0 + cell / 2) as i32 - 8;
                root.draw_text(label, &label_style, (10, y)).map_err(|x| e(x.to_string()))?;
            }
            for c in 0..self.cols {
                let x0 = left + c * cell;
                let img = &self.images[(r * self.cols + c) * per_image..][..per_image];
                for (i, &v) in img.iter().enumerate() {
                    let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
                    let color = RGBColor(shade, shade, shade);
                    let (py, px) = (i / self.side, i % self.side);
                    for dy in 0..self.scale {
                        for dx in 0..self.scale {
                            let at = ((x0 + px * self.scale + dx) as i32, (y0 + py * self.scale + dy) as i32);
                            root.draw_pixel(at, &color).map_err(|x| e(x.to_string()))?;
                        }
                    }
                }
            }
        }
        root.present().map_err(|x| e(x.to_string()))
    }
}

/// One piano roll: `steps x keys` values in [0, 1] (a note's probability, or 0/1), time to the
/// right and pitch upwards; a red line before step `mark`, if given (where a continuation starts).
pub struct Roll<'a> {
    pub label: &'a str,
    pub values: &'a [f32],
    pub steps: usize,
    pub mark: Option<usize>,
}

/// Piano rolls stacked one above the other, each `keys` tall, sharing one time scale.
pub struct PianoRolls<'a> {
    pub rolls: &'a [Roll<'a>],
    pub keys: usize,
    pub title: &'a str,
    /// Screen pixels per beat and per key.
    pub beat_px: usize,
    pub key_px: usize,
}

impl PianoRolls<'_> {
    pub fn save(&self, path: &Path) -> PlotResult {
        let e = err(path);
        for r in self.rolls {
            if r.values.len() != r.steps * self.keys {
                let msg = format!(
                    "roll {:?}: {} values for {} beats of {} keys",
                    r.label,
                    r.values.len(),
                    r.steps,
                    self.keys
                );
                return Err(e(msg));
            }
        }
        ensure_font();
        create_dir_for(path)?;
        let longest = self.rolls.iter().map(|r| r.steps).max().unwrap_or(1);
        let (left, top, gap, label_h) = (10, 40, 12, 20);
        let panel_h = self.keys * self.key_px;
        // wide enough for the title too (about 11 pixels per character at this size)
        let width = (left + longest * self.beat_px + 10).max(left + 11 * self.title.chars().count()) as u32;
        let height = (top + self.rolls.len() * (label_h + panel_h + gap) + 5) as u32;
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let title_style = ("sans-serif", 20).into_font().color(&BLACK);
        root.draw_text(self.title, &title_style, (left as i32, 10)).map_err(|x| e(x.to_string()))?;
        let label_style = ("sans-serif", 14).into_font().color(&BLACK);
        let frame = RGBColor(200, 200, 200);
        for (i, r) in self.rolls.iter().enumerate() {
            let y_label = top + i * (label_h + panel_h + gap);
            root.draw_text(r.label, &label_style, (left as i32, y_label as i32)).map_err(|x| e(x.to_string()))?;
            let y0 = (y_label + label_h) as i32;
            let x_end = (left + r.steps * self.beat_px) as i32;
            let outline = Rectangle::new([(left as i32, y0), (x_end, y0 + panel_h as i32)], frame.stroke_width(1));
            root.draw(&outline).map_err(|x| e(x.to_string()))?;
            for t in 0..r.steps {
                for k in 0..self.keys {
                    let v = r.values[t * self.keys + k].clamp(0.0, 1.0);
                    if v < 0.02 {
                        continue;
                    }
                    let shade = (255.0 * (1.0 - v)).round() as u8;
                    let x = (left + t * self.beat_px) as i32;
                    let y = y0 + ((self.keys - 1 - k) * self.key_px) as i32; // high pitches on top
                    let cell = [(x, y), (x + self.beat_px as i32, y + self.key_px as i32)];
                    root.draw(&Rectangle::new(cell, RGBColor(shade, shade, shade).filled()))
                        .map_err(|x| e(x.to_string()))?;
                }
            }
            if let Some(m) = r.mark {
                let x = (left + m * self.beat_px) as i32;
                let line = PathElement::new(vec![(x, y0 - 3), (x, y0 + panel_h as i32 + 3)], RED.stroke_width(2));
                root.draw(&line).map_err(|x| e(x.to_string()))?;
            }
        }
        root.present().map_err(|x| e(x.to_string()))
    }
}

/// A 2-D chart on a PNG page.
type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

/// Draws the frame every x-y figure shares (title, axes, light grid, legend) around `draw`.
fn xy_figure(
    path: &Path,
    size: (u32, u32),
    title: &str,
    axes: (&str, &str),
    ranges: (std::ops::Range<f32>, std::ops::Range<f32>),
    legend: SeriesLabelPosition,
    draw: impl FnOnce(&mut Chart) -> Result<(), String>,
) -> PlotResult {
    let e = err(path);
    ensure_font();
    create_dir_for(path)?;
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(ranges.0, ranges.1)
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(axes.0)
        .y_desc(axes.1)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    draw(&mut chart).map_err(&e)?;
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    root.present().map_err(|x| e(x.to_string()))
}

/// Points coloured by class (0-9), with a legend.
pub fn scatter_by_class(
    points: &[(f32, f32)],
    labels: &[u8],
    title: &str,
    axes: (&str, &str),
    path: &Path,
) -> PlotResult {
    if points.len() != labels.len() || points.is_empty() {
        let msg = format!("{} points and {} labels (need the same, non-zero number)", points.len(), labels.len());
        return Err(err(path)(msg));
    }
    let ranges = (padded_range(points.iter().map(|p| p.0)), padded_range(points.iter().map(|p| p.1)));
    xy_figure(path, (760, 640), title, axes, ranges, SeriesLabelPosition::UpperRight, |chart| {
        for class in 0..10u8 {
            let color = CLASS_COLORS[class as usize];
            let series = points.iter().zip(labels).filter(|(_, l)| **l == class).map(|(p, _)| *p);
            chart
                .draw_series(series.map(|p| Circle::new(p, 2, color.mix(0.7).filled())))
                .map_err(|x| x.to_string())?
                .label(class.to_string())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        Ok(())
    })
}

/// Named curves over epochs (x = 1, 2, ...), with a legend and a dot on every value.
pub fn curves(series: &[(&str, &[f64])], title: &str, axes: (&str, &str), path: &Path) -> PlotResult {
    let pts: Vec<(&str, Vec<(f32, f32)>)> = series
        .iter()
        .map(|(name, v)| (*name, v.iter().enumerate().map(|(k, &y)| ((k + 1) as f32, y as f32)).collect()))
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = pts.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    lines(&refs, Lines { dots: true, ..Lines::default() }, title, axes, path)
}

/// How [`lines`] draws.
#[derive(Clone, Copy)]
pub struct Lines {
    /// Mark every point with a dot.
    pub dots: bool,
    /// Image size in pixels.
    pub size: (u32, u32),
    /// The same scale on both axes (for shapes such as ellipses); needs a square `size`.
    pub equal_axes: bool,
    /// Put the legend in the upper left corner (where the curves leave room).
    pub legend_left: bool,
}

impl Default for Lines {
    fn default() -> Self {
        Self { dots: false, size: (760, 480), equal_axes: false, legend_left: false }
    }
}

/// Named polylines through `(x, y)` points, with a legend.
pub fn lines(series: &[(&str, &[(f32, f32)])], how: Lines, title: &str, axes: (&str, &str), path: &Path) -> PlotResult {
    overlay(&[], series, how, title, axes, path)
}

/// Named clouds of points (small translucent dots, drawn first) under named polylines, with one
/// legend: clouds take the first colours, lines the ones after them.
pub fn overlay(
    clouds: &[(&str, &[(f32, f32)])],
    series: &[(&str, &[(f32, f32)])],
    how: Lines,
    title: &str,
    axes: (&str, &str),
    path: &Path,
) -> PlotResult {
    let all = || clouds.iter().chain(series);
    if all().all(|(_, p)| p.is_empty()) {
        return Err(err(path)("no values to plot".into()));
    }
    let mut xs = padded_range(all().flat_map(|(_, p)| p.iter().map(|q| q.0)));
    let mut ys = padded_range(all().flat_map(|(_, p)| p.iter().map(|q| q.1)));
    if how.equal_axes {
        let half = (xs.end - xs.start).max(ys.end - ys.start) / 2.0;
        let (cx, cy) = ((xs.start + xs.end) / 2.0, (ys.start + ys.end) / 2.0);
        (xs, ys) = ((cx - half)..(cx + half), (cy - half)..(cy + half));
    }
    let dots = how.dots;
    let legend = if how.legend_left { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::UpperRight };
    xy_figure(path, how.size, title, axes, (xs, ys), legend, |chart| {
        for (i, (name, pts)) in clouds.iter().enumerate() {
            let color = CLASS_COLORS[i % CLASS_COLORS.len()];
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.mix(0.5).filled())))
                .map_err(|x| x.to_string())?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = CLASS_COLORS[(clouds.len() + i) % CLASS_COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|x| x.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            if dots {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|x| x.to_string())?;
            }
        }
        Ok(())
    })
}

/// The range of the values with 5% room on each side (never empty).
fn padded_range(values: impl Iterator<Item = f32>) -> std::ops::Range<f32> {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad)..(hi + pad)
}
