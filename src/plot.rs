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

pub(crate) fn err(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |msg| PlotError { path: path.into(), msg }
}

/// Registers the embedded font once per process.
pub(crate) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Both fonts are valid TrueType files shipped by the crate, so registration succeeds;
        // if it ever did not, text would be missing and plotters would report the error.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

pub(crate) fn create_dir_for(path: &Path) -> PlotResult {
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

/// The narrowest column of row labels in an [`ImageGrid`], in screen pixels.
const LABEL_COLUMN: usize = 130;
/// Space left and right of the widest row label.
const LABEL_GAP: usize = 12;

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

/// The grey of [`outline`]: light enough to tell from ink, dark enough to see on white.
const OUTLINE_GREY: f32 = 0.25;

/// Marks the edge of every `side` x `side` image in `images` with a light grey line (pixels
/// darker than it keep their value), for pictures whose background is as white as the page.
pub fn outline(images: &mut [f32], side: usize) {
    for (i, v) in images.iter_mut().enumerate() {
        let (row, col) = ((i / side) % side, i % side);
        if row == 0 || col == 0 || row == side - 1 || col == side - 1 {
            *v = v.max(OUTLINE_GREY);
        }
    }
}

/// Pixels between neighbouring images of an [`ImageGrid`], and above its first row.
const GRID_GAP: usize = 2;
const GRID_TOP: usize = 40;
/// Room for an [`ImageGrid`]'s axis labels: left of the images, and below them.
const AXIS_LEFT: usize = 70;
const AXIS_BOTTOM: usize = 44;

/// Axes of a grid whose columns and rows step evenly through two coordinates (a decoded grid of
/// codes): the names, and the values of the first and last column and of the top and bottom row.
pub struct GridAxes<'a> {
    pub x_name: &'a str,
    pub y_name: &'a str,
    pub x_ends: (f32, f32),
    pub y_ends: (f32, f32),
}

impl ImageGrid<'_> {
    pub fn save(&self, path: &Path) -> PlotResult {
        self.draw(path, None)
    }

    /// [`ImageGrid::save`] with the grid's coordinates written below and left of the images.
    pub fn save_with_axes(&self, axes: &GridAxes, path: &Path) -> PlotResult {
        self.draw(path, Some(axes))
    }

    fn draw(&self, path: &Path, axes: Option<&GridAxes>) -> PlotResult {
        let e = err(path);
        if self.rows == 0 || self.cols == 0 || self.side == 0 {
            return Err(e(format!("an empty grid ({}x{} images of side {})", self.rows, self.cols, self.side)));
        }
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
        let cell = self.side * self.scale + GRID_GAP;
        let label_style = ("sans-serif", 16).into_font().color(&BLACK);
        let title_style = ("sans-serif", 22).into_font().color(&BLACK);
        let (mut left, title_width) = self.measure(&label_style, &title_style).map_err(&e)?;
        let bottom = if axes.is_some() { AXIS_BOTTOM } else { 10 };
        if axes.is_some() {
            left = left.max(AXIS_LEFT);
        }
        // Wide enough for the images and for the title, which starts above the first image.
        let width = (left + (self.cols * cell).max(title_width) + 10) as u32;
        let height = (GRID_TOP + self.rows * cell + bottom) as u32;
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        root.draw_text(self.title, &title_style, (left as i32, 10)).map_err(|x| e(x.to_string()))?;
        for r in 0..self.rows {
            let y0 = GRID_TOP + r * cell;
            if let Some(label) = self.row_labels.and_then(|l| l.get(r)) {
                let y = (y0 + cell / 2) as i32 - 8;
                root.draw_text(label, &label_style, (10, y)).map_err(|x| e(x.to_string()))?;
            }
            for c in 0..self.cols {
                let img = &self.images[(r * self.cols + c) * per_image..][..per_image];
                self.draw_image(&root, img, (left + c * cell, y0)).map_err(&e)?;
            }
        }
        if let Some(axes) = axes {
            self.draw_axes(&root, axes, left).map_err(&e)?;
        }
        root.present().map_err(|x| e(x.to_string()))
    }

    /// The end values under the first and last column and left of the top and bottom row, and
    /// each axis's name halfway along it.
    fn draw_axes(
        &self,
        root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
        axes: &GridAxes,
        left: usize,
    ) -> Result<(), String> {
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        let cell = self.side * self.scale + GRID_GAP;
        let font = ("sans-serif", 16).into_font().color(&BLACK);
        let below = font.pos(Pos::new(HPos::Center, VPos::Top));
        let beside = font.pos(Pos::new(HPos::Right, VPos::Center));
        let centre = |i: usize| (i * cell + cell / 2) as i32;
        let y_text = (GRID_TOP + self.rows * cell + 6) as i32;
        let x_text = left as i32 - 8;
        let ends = |(a, b): (f32, f32)| [format!("{a}"), format!("{b}")];
        let [x0, x1] = ends(axes.x_ends);
        let [y0, y1] = ends(axes.y_ends);
        let texts = [
            (x0, &below, (left as i32 + centre(0), y_text)),
            (x1, &below, (left as i32 + centre(self.cols - 1), y_text)),
            (axes.x_name.to_string(), &below, (left as i32 + (self.cols * cell / 2) as i32, y_text)),
            (y0, &beside, (x_text, GRID_TOP as i32 + centre(0))),
            (y1, &beside, (x_text, GRID_TOP as i32 + centre(self.rows - 1))),
            (axes.y_name.to_string(), &beside, (x_text, (GRID_TOP + self.rows * cell / 2) as i32)),
        ];
        for (text, style, at) in texts {
            root.draw_text(&text, style, at).map_err(|x| x.to_string())?;
        }
        Ok(())
    }

    /// The width of the label column (as wide as the widest label, at least [`LABEL_COLUMN`],
    /// so none runs into the images) and of the title, measured on a one-pixel canvas.
    fn measure(&self, label_style: &TextStyle, title_style: &TextStyle) -> Result<(usize, usize), String> {
        let mut pixel = [0u8; 3];
        let probe = BitMapBackend::with_buffer(&mut pixel, (1, 1)).into_drawing_area();
        let mut left = 10;
        if let Some(labels) = self.row_labels {
            for label in labels {
                let (w, _) = probe.estimate_text_size(label, label_style).map_err(|x| x.to_string())?;
                left = left.max(w as usize + 2 * LABEL_GAP);
            }
            left = left.max(LABEL_COLUMN);
        }
        let (title_width, _) = probe.estimate_text_size(self.title, title_style).map_err(|x| x.to_string())?;
        Ok((left, title_width as usize))
    }

    /// One image, grey levels from white (0) to black (1), its top-left corner at `(x0, y0)`.
    fn draw_image(
        &self,
        root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
        img: &[f32],
        (x0, y0): (usize, usize),
    ) -> Result<(), String> {
        for (i, &v) in img.iter().enumerate() {
            let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
            let color = RGBColor(shade, shade, shade);
            let (py, px) = (i / self.side, i % self.side);
            for dy in 0..self.scale {
                for dx in 0..self.scale {
                    let at = ((x0 + px * self.scale + dx) as i32, (y0 + py * self.scale + dy) as i32);
                    root.draw_pixel(at, &color).map_err(|x| x.to_string())?;
                }
            }
        }
        Ok(())
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

/// Beats between the numbered ticks under a [`PianoRolls`] figure.
const ROLL_TICK_BEATS: usize = 16;

/// Piano rolls stacked one above the other, each `keys` tall, sharing one time scale: the MIDI
/// numbers of the lowest and highest key are written left of each roll, beats under the last.
pub struct PianoRolls<'a> {
    pub rolls: &'a [Roll<'a>],
    pub keys: usize,
    /// The MIDI number of the lowest key.
    pub lowest_pitch: u8,
    pub title: &'a str,
    /// Screen pixels per beat and per key.
    pub beat_px: usize,
    pub key_px: usize,
}

impl PianoRolls<'_> {
    pub fn save(&self, path: &Path) -> PlotResult {
        let e = err(path);
        if self.keys == 0 || self.rolls.is_empty() {
            return Err(e(format!("{} rolls of {} keys: nothing to draw", self.rolls.len(), self.keys)));
        }
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
        let (left, top, gap, label_h, axis_h) = (40, 40, 12, 20, 36);
        let panel_h = self.keys * self.key_px;
        // wide enough for the title too (about 11 pixels per character at this size)
        let width = (left + longest * self.beat_px + 50).max(left + 11 * self.title.chars().count()) as u32;
        let height = (top + self.rolls.len() * (label_h + panel_h + gap) + axis_h) as u32;
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
            self.draw_notes(&root, r, (left, y0)).map_err(&e)?;
            if let Some(m) = r.mark {
                let x = (left + m * self.beat_px) as i32;
                let line = PathElement::new(vec![(x, y0 - 3), (x, y0 + panel_h as i32 + 3)], RED.stroke_width(2));
                root.draw(&line).map_err(|x| e(x.to_string()))?;
            }
            self.draw_pitches(&root, (left, y0)).map_err(&e)?;
        }
        let axis_y = top + self.rolls.len() * (label_h + panel_h + gap) - gap + 2;
        self.draw_beats(&root, (left, axis_y), longest).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))
    }

    /// One roll's notes, grey as their value, in a panel whose top-left corner is `(left, y0)`.
    fn draw_notes(
        &self,
        root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
        r: &Roll,
        (left, y0): (usize, i32),
    ) -> Result<(), String> {
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
                root.draw(&Rectangle::new(cell, RGBColor(shade, shade, shade).filled())).map_err(|x| x.to_string())?;
            }
        }
        Ok(())
    }

    /// The MIDI numbers of the highest and lowest key, left of a roll whose top is at `y0`.
    fn draw_pitches(
        &self,
        root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
        (left, y0): (usize, i32),
    ) -> Result<(), String> {
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        let style = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        let highest = self.lowest_pitch as usize + self.keys - 1;
        let half_key = (self.key_px / 2) as i32;
        let x = left as i32 - 4;
        root.draw_text(&highest.to_string(), &style, (x, y0 + half_key)).map_err(|x| x.to_string())?;
        let bottom = y0 + ((self.keys - 1) * self.key_px) as i32 + half_key;
        root.draw_text(&self.lowest_pitch.to_string(), &style, (x, bottom)).map_err(|x| x.to_string())
    }

    /// Numbered ticks every [`ROLL_TICK_BEATS`] beats at height `y`, and the axis's name.
    fn draw_beats(
        &self,
        root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
        (left, y): (usize, usize),
        beats: usize,
    ) -> Result<(), String> {
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        let style = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        let y = y as i32;
        for beat in (0..=beats).step_by(ROLL_TICK_BEATS) {
            let x = (left + beat * self.beat_px) as i32;
            root.draw(&PathElement::new(vec![(x, y), (x, y + 4)], BLACK.stroke_width(1))).map_err(|x| x.to_string())?;
            root.draw_text(&beat.to_string(), &style, (x, y + 6)).map_err(|x| x.to_string())?;
        }
        let end = (left + beats * self.beat_px) as i32 + 24;
        root.draw_text("beat", &style, (end, y + 6)).map_err(|x| x.to_string())
    }
}

/// A 2-D chart on a PNG page.
type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

/// How a series shows in the legend.
#[derive(Clone, Copy)]
enum Mark {
    Dot,
    Line,
}

/// One legend row: a name and its marker.
struct LegendEntry {
    name: String,
    color: RGBColor,
    mark: Mark,
}

/// A rectangle in pixels, `[x0, x1) x [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelRect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl PixelRect {
    pub fn contains(&self, (x, y): (i32, i32)) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }
}

/// Where a figure's legend went and where its data were drawn, in pixels: what the tests check
/// (no plotted point under the legend).
#[derive(Debug, Default)]
pub struct Layout {
    pub legend: Option<PixelRect>,
    pub points: Vec<(i32, i32)>,
}

/// Everything an x-y figure's frame needs.
struct Frame<'a> {
    size: (u32, u32),
    title: &'a str,
    axes: (&'a str, &'a str),
    ranges: (std::ops::Range<f32>, std::ops::Range<f32>),
    /// y values are log10 of the data; ticks are labelled with the data's values.
    log_y: bool,
    /// Label only whole-number x ticks (epochs, steps, units).
    integer_x: bool,
    /// Width of the legend's column at the right of `size` (from [`legend_room`]).
    legend_width: u32,
}

/// Turns a tick's value into its label.
type TickLabel = dyn Fn(&f32) -> String;

const LEGEND_FONT: u32 = 14;
const LEGEND_ROW: i32 = 22;

/// A tick label for a log10 axis: the value itself, with as many decimals as it needs.
fn pow10_label(v: f32) -> String {
    let x = 10f64.powf(f64::from(v));
    let decimals = if v >= 0.0 { 0 } else { (-v).ceil() as usize };
    format!("{x:.decimals$}")
}

fn integer_label(v: f32) -> String {
    if (v - v.round()).abs() < 1e-3 { format!("{}", v.round()) } else { String::new() }
}

/// Draws the frame every x-y figure shares (title, axes, light grid) around `draw`, and the
/// legend in its own column right of the chart, where it cannot cover data.
fn xy_figure(
    path: &Path,
    frame: Frame,
    draw: impl FnOnce(&mut Chart, &mut Layout) -> Result<Vec<LegendEntry>, String>,
) -> Result<Layout, PlotError> {
    let e = err(path);
    ensure_font();
    create_dir_for(path)?;
    let root = BitMapBackend::new(path, frame.size).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let (chart_area, legend_area) = root.split_horizontally(frame.size.0.saturating_sub(frame.legend_width));
    let mut layout = Layout::default();
    let entries;
    {
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(frame.title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(frame.ranges.0.clone(), frame.ranges.1.clone())
            .map_err(|x| e(x.to_string()))?;
        // A tick at zero computed as a sum of steps can land a rounding error away from it.
        let plain = |v: &f32| if v.abs() < 1e-6 { "0".to_string() } else { format!("{v}") };
        let fx: &TickLabel = if frame.integer_x { &|v| integer_label(*v) } else { &plain };
        let fy: &TickLabel = if frame.log_y { &|v| pow10_label(*v) } else { &plain };
        chart
            .configure_mesh()
            .x_desc(frame.axes.0)
            .y_desc(frame.axes.1)
            .x_label_formatter(fx)
            .y_label_formatter(fy)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        entries = draw(&mut chart, &mut layout).map_err(&e)?;
    }
    layout.legend = draw_legend(&legend_area, &entries).map_err(&e)?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(layout)
}

/// The legend's box in its own column (`area`, right of the chart), below the title; returned
/// in the figure's pixels.
fn draw_legend(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    entries: &[LegendEntry],
) -> Result<Option<PixelRect>, String> {
    if entries.is_empty() {
        return Ok(None);
    }
    let root = area;
    let font = ("sans-serif", LEGEND_FONT).into_font();
    let mut widest = 0;
    for entry in entries {
        let size = root.estimate_text_size(&entry.name, &TextStyle::from(font.clone())).map_err(|x| x.to_string())?;
        widest = widest.max(size.0 as i32);
    }
    let (w, _) = root.dim_in_pixel();
    let rect = PixelRect {
        x0: 4,
        y0: 45,
        x1: (4 + widest + 46).min(w as i32 - 4),
        y1: 45 + LEGEND_ROW * entries.len() as i32 + 8,
    };
    root.draw(&Rectangle::new([(rect.x0, rect.y0), (rect.x1, rect.y1)], WHITE.filled())).map_err(|x| x.to_string())?;
    root.draw(&Rectangle::new([(rect.x0, rect.y0), (rect.x1, rect.y1)], BLACK.stroke_width(1)))
        .map_err(|x| x.to_string())?;
    for (i, entry) in entries.iter().enumerate() {
        let y = rect.y0 + 4 + LEGEND_ROW * i as i32 + LEGEND_ROW / 2;
        let x = rect.x0 + 8;
        match entry.mark {
            Mark::Dot => root.draw(&Circle::new((x + 10, y), 4, entry.color.filled())),
            Mark::Line => root.draw(&PathElement::new(vec![(x, y), (x + 20, y)], entry.color.stroke_width(2))),
        }
        .map_err(|x| x.to_string())?;
        let style = font.clone().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ));
        root.draw(&Text::new(entry.name.clone(), (x + 30, y), style)).map_err(|x| x.to_string())?;
    }
    let (bx, by) = area.get_base_pixel();
    Ok(Some(PixelRect { x0: rect.x0 + bx, y0: rect.y0 + by, x1: rect.x1 + bx, y1: rect.y1 + by }))
}

/// Width added to a figure for its legend column: the longest label, its marker and margins.
fn legend_room(names: impl Iterator<Item = usize>) -> u32 {
    // About 7.5 pixels per character at the legend's size (DejaVu Sans), the marker, and the
    // margins of the box.
    names.map(|n| (n as u32 * 15).div_ceil(2) + 60).max().unwrap_or(0)
}

/// Records where `pts` land in pixels.
fn record(chart: &Chart, layout: &mut Layout, pts: impl Iterator<Item = (f32, f32)>) {
    layout.points.extend(pts.map(|p| chart.backend_coord(&p)));
}

/// Points coloured by class (0-9), with a legend; both axes on the same scale.
pub fn scatter_by_class(
    points: &[(f32, f32)],
    labels: &[u8],
    title: &str,
    axes: (&str, &str),
    path: &Path,
) -> Result<Layout, PlotError> {
    if points.len() != labels.len() || points.is_empty() {
        let msg = format!("{} points and {} labels (need the same, non-zero number)", points.len(), labels.len());
        return Err(err(path)(msg));
    }
    let ranges = square(padded_range(points.iter().map(|p| p.0)), padded_range(points.iter().map(|p| p.1)));
    // A square plotting area: the y labels' margin is 20 pixels wider than the x labels', plus
    // the legend's column.
    let legend_width = legend_room(std::iter::once(1));
    let size = (640 + 20 + legend_width, 640);
    let frame = Frame { size, title, axes, ranges, log_y: false, integer_x: false, legend_width };
    xy_figure(path, frame, |chart, layout| {
        let mut entries = Vec::new();
        for class in 0..10u8 {
            let color = CLASS_COLORS[class as usize];
            let series: Vec<(f32, f32)> =
                points.iter().zip(labels).filter(|(_, l)| **l == class).map(|(p, _)| *p).collect();
            chart
                .draw_series(series.iter().map(|&p| Circle::new(p, 2, color.mix(0.7).filled())))
                .map_err(|x| x.to_string())?;
            record(chart, layout, series.into_iter());
            entries.push(LegendEntry { name: class.to_string(), color, mark: Mark::Dot });
        }
        Ok(entries)
    })
}

/// Named curves over epochs (x = 1, 2, ...), with a legend and a dot on every value.
pub fn curves(series: &[(&str, &[f64])], title: &str, axes: (&str, &str), path: &Path) -> PlotResult {
    let pts: Vec<(&str, Vec<(f32, f32)>)> = series
        .iter()
        .map(|(name, v)| (*name, v.iter().enumerate().map(|(k, &y)| ((k + 1) as f32, y as f32)).collect()))
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = pts.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    lines(&refs, Lines { dots: true, integer_x: true, ..Lines::default() }, title, axes, path).map(|_| ())
}

/// How [`lines`] draws.
#[derive(Clone, Copy)]
pub struct Lines {
    /// Mark every point with a dot.
    pub dots: bool,
    /// Join the points with a line (off: dots only, for values that are not a sequence).
    pub join: bool,
    /// Image size in pixels of the chart (the legend's column is added to the width).
    pub size: (u32, u32),
    /// The same scale on both axes (for shapes such as ellipses); needs a square `size`.
    pub equal_axes: bool,
    /// A logarithmic y axis (every value must be positive).
    pub log_y: bool,
    /// Only whole-number labels on the x axis (epochs, steps, unit numbers).
    pub integer_x: bool,
    /// Each line takes the colour of the cloud of the same index (a cloud and the curve fitted to
    /// it), instead of the colours after the clouds'.
    pub paired: bool,
    /// The last line is a reference (chance, a bound), drawn in black rather than in a colour that
    /// another line may also have.
    pub reference_last: bool,
    /// Colours start this far into the palette (to give a cloud the colour that the same thing
    /// had in another figure).
    pub color_offset: usize,
}

impl Default for Lines {
    fn default() -> Self {
        Self {
            dots: false,
            join: true,
            size: (760, 480),
            equal_axes: false,
            log_y: false,
            integer_x: false,
            paired: false,
            reference_last: false,
            color_offset: 0,
        }
    }
}

/// Named polylines through `(x, y)` points, with a legend.
pub fn lines(
    series: &[(&str, &[(f32, f32)])],
    how: Lines,
    title: &str,
    axes: (&str, &str),
    path: &Path,
) -> Result<Layout, PlotError> {
    overlay(&[], series, how, title, axes, path)
}

/// A trace: points joined in order.
pub type Trace = Vec<(f32, f32)>;

/// Groups of traces (heartbeats, signals): every trace of a group in the group's colour, translucent
/// when `faint` (for many traces on top of each other), one legend row per group.
pub fn traces(
    groups: &[(&str, &[Trace])],
    faint: bool,
    title: &str,
    axes: (&str, &str),
    path: &Path,
) -> Result<Layout, PlotError> {
    let all = || groups.iter().flat_map(|(_, t)| t.iter().flatten());
    if all().next().is_none() {
        return Err(err(path)("no traces to plot".into()));
    }
    let ranges = (padded_range(all().map(|p| p.0)), padded_range(all().map(|p| p.1)));
    let legend_width = legend_room(groups.iter().map(|(n, _)| n.chars().count()));
    let how = Lines::default();
    let size = (how.size.0 + legend_width, how.size.1);
    let frame = Frame { size, title, axes, ranges, log_y: false, integer_x: false, legend_width };
    xy_figure(path, frame, |chart, layout| {
        let mut entries = Vec::new();
        for (i, (name, group)) in groups.iter().enumerate() {
            let color = CLASS_COLORS[i % CLASS_COLORS.len()];
            let style = if faint { color.mix(0.25).stroke_width(1) } else { color.stroke_width(2) };
            for trace in group.iter() {
                chart.draw_series(LineSeries::new(trace.iter().copied(), style)).map_err(|x| x.to_string())?;
                record(chart, layout, trace.iter().copied());
            }
            entries.push(LegendEntry { name: name.to_string(), color, mark: Mark::Line });
        }
        Ok(entries)
    })
}

/// A signal drawn as a thin grey line with named marks on top (events found in it), each group of
/// marks in its colour, one legend row per group.
pub fn signal_with_marks(
    signal: &[(f32, f32)],
    marks: &[(&str, &[(f32, f32)])],
    size: (u32, u32),
    title: &str,
    axes: (&str, &str),
    path: &Path,
) -> Result<Layout, PlotError> {
    if signal.is_empty() {
        return Err(err(path)("no signal to plot".into()));
    }
    let all = || signal.iter().chain(marks.iter().flat_map(|(_, m)| m.iter()));
    let ranges = (padded_range(all().map(|p| p.0)), padded_range(all().map(|p| p.1)));
    let legend_width = legend_room(marks.iter().map(|(n, _)| n.chars().count()));
    let frame = Frame {
        size: (size.0 + legend_width, size.1),
        title,
        axes,
        ranges,
        log_y: false,
        integer_x: false,
        legend_width,
    };
    xy_figure(path, frame, |chart, layout| {
        let grey = RGBColor(90, 90, 90);
        chart.draw_series(LineSeries::new(signal.iter().copied(), grey.stroke_width(1))).map_err(|x| x.to_string())?;
        record(chart, layout, signal.iter().copied());
        let mut entries = Vec::new();
        for (i, (name, pts)) in marks.iter().enumerate() {
            let color = CLASS_COLORS[i % CLASS_COLORS.len()];
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled()))).map_err(|x| x.to_string())?;
            record(chart, layout, pts.iter().copied());
            entries.push(LegendEntry { name: name.to_string(), color, mark: Mark::Dot });
        }
        Ok(entries)
    })
}

/// The two ranges widened to the same length, about their centres.
fn square(xs: std::ops::Range<f32>, ys: std::ops::Range<f32>) -> (std::ops::Range<f32>, std::ops::Range<f32>) {
    let half = (xs.end - xs.start).max(ys.end - ys.start) / 2.0;
    let (cx, cy) = ((xs.start + xs.end) / 2.0, (ys.start + ys.end) / 2.0);
    ((cx - half)..(cx + half), (cy - half)..(cy + half))
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
) -> Result<Layout, PlotError> {
    let log = |pts: &[(f32, f32)]| -> Vec<(f32, f32)> {
        pts.iter().map(|&(x, y)| (x, if how.log_y { y.log10() } else { y })).collect()
    };
    if how.log_y && clouds.iter().chain(series).any(|(_, p)| p.iter().any(|q| q.1.is_nan() || q.1 <= 0.0)) {
        return Err(err(path)("a logarithmic axis needs positive values".into()));
    }
    let clouds: Vec<(&str, Vec<(f32, f32)>)> = clouds.iter().map(|(n, p)| (*n, log(p))).collect();
    let series: Vec<(&str, Vec<(f32, f32)>)> = series.iter().map(|(n, p)| (*n, log(p))).collect();
    let all = || clouds.iter().chain(&series);
    if all().all(|(_, p)| p.is_empty()) {
        return Err(err(path)("no values to plot".into()));
    }
    let mut ranges = (
        padded_range(all().flat_map(|(_, p)| p.iter().map(|q| q.0))),
        padded_range(all().flat_map(|(_, p)| p.iter().map(|q| q.1))),
    );
    if how.equal_axes {
        ranges = square(ranges.0, ranges.1);
    }
    let legend_width = legend_room(all().map(|(n, _)| n.chars().count()));
    let size = (how.size.0 + legend_width, how.size.1);
    let frame = Frame { size, title, axes, ranges, log_y: how.log_y, integer_x: how.integer_x, legend_width };
    xy_figure(path, frame, |chart, layout| {
        let mut entries = Vec::new();
        for (i, (name, pts)) in clouds.iter().enumerate() {
            let color = CLASS_COLORS[(how.color_offset + i) % CLASS_COLORS.len()];
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.mix(0.5).filled())))
                .map_err(|x| x.to_string())?;
            record(chart, layout, pts.iter().copied());
            entries.push(LegendEntry { name: name.to_string(), color, mark: Mark::Dot });
        }
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = series_color(&how, i, series.len(), clouds.len());
            if how.join {
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(|x| x.to_string())?;
            }
            if how.dots || !how.join {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|x| x.to_string())?;
            }
            record(chart, layout, pts.iter().copied());
            let mark = if how.join { Mark::Line } else { Mark::Dot };
            entries.push(LegendEntry { name: name.to_string(), color, mark });
        }
        Ok(entries)
    })
}

/// The colour of line `i` of `lines` drawn over `clouds` point clouds: black for a last
/// reference line, the colour of the cloud it pairs with, or the next colour after the clouds'.
fn series_color(how: &Lines, i: usize, lines: usize, clouds: usize) -> RGBColor {
    if how.reference_last && i + 1 == lines {
        BLACK
    } else if how.paired {
        CLASS_COLORS[(how.color_offset + i) % CLASS_COLORS.len()]
    } else {
        CLASS_COLORS[(how.color_offset + clouds + i) % CLASS_COLORS.len()]
    }
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
