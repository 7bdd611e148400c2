//! Pictures of a model drawn with plotters: random variables, computed values, networks and
//! parameters joined by arrows, as in the graphical-model and network figures of the papers.
//!
//! Coordinates are pixels of the picture, from the top left. Every node is sized from its label,
//! and [`Diagram::check`] refuses a picture whose nodes overlap or leave the canvas, or whose
//! edges name a node that does not exist, so a longer label cannot silently spoil a figure.

use crate::plot::{PlotResult, create_dir_for, ensure_font, err};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Size of the labels' font, in pixels, and the height of one line of a label.
const FONT: f64 = 18.0;
const LINE: i32 = 22;
/// Space between a label and its node's border, and between an arrow and the nodes it joins.
const PAD: i32 = 10;
const GAP: f64 = 3.0;
/// Length and half-width of an arrowhead; distance of an edge's label from the edge.
const HEAD: f64 = 11.0;
const HEAD_WIDTH: f64 = 5.0;
const LABEL_OFFSET: f64 = 14.0;
/// Points along an edge at which [`Diagram::check`] looks for a node in the way.
const CROSSING_SAMPLES: usize = 64;
/// Height of the title band at the top of the picture.
const TITLE_BAND: i32 = 40;

const SHADE: RGBColor = RGBColor(210, 210, 210);
const NETWORK: RGBColor = RGBColor(214, 230, 245);
const GRADIENT: RGBColor = RGBColor(200, 30, 30);

/// How a node is drawn, by what it stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// An observed random variable: a shaded circle.
    Observed,
    /// A latent random variable or noise: an open circle.
    Random,
    /// A value computed from others: a rectangle.
    Computed,
    /// A neural network: a filled rectangle.
    Network,
    /// A parameter such as θ or φ, or a note: its label alone.
    Text,
}

/// One node: `id` names it for the edges, `label` is drawn (lines split at `\n`), `at` its centre.
pub struct Node<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub at: (i32, i32),
    pub shape: Shape,
}

/// How an edge is drawn: the generative model's solid arrows, the inference model's dashed ones,
/// and the red arrows of a gradient flowing backwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stroke {
    Solid,
    Dashed,
    Gradient,
}

pub struct Edge<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub stroke: Stroke,
    pub label: &'a str,
    /// Pixels the edge is moved sideways (two edges between the same nodes), and to which side
    /// of the edge its label goes (+1 left of the direction of travel, -1 right).
    pub shift: i32,
    pub label_side: i32,
}

impl<'a> Edge<'a> {
    pub fn new(from: &'a str, to: &'a str, stroke: Stroke) -> Self {
        Self { from, to, stroke, label: "", shift: 0, label_side: 1 }
    }

    pub fn label(self, label: &'a str, label_side: i32) -> Self {
        Self { label, label_side, ..self }
    }

    pub fn shift(self, shift: i32) -> Self {
        Self { shift, ..self }
    }
}

/// A plate: the nodes inside are repeated, once per item its label names.
pub struct Plate<'a> {
    pub around: &'a [&'a str],
    pub label: &'a str,
    /// Room left and right of the nodes, and above and below them, for the edges' labels.
    pub margin: (i32, i32),
}

pub struct Diagram<'a> {
    pub title: &'a str,
    pub size: (u32, u32),
    pub nodes: &'a [Node<'a>],
    pub edges: &'a [Edge<'a>],
    pub plates: &'a [Plate<'a>],
}

/// A node's box: centre and half-sizes, in pixels.
#[derive(Debug, Clone, Copy)]
struct Extent {
    x: i32,
    y: i32,
    half_w: i32,
    half_h: i32,
    round: bool,
}

fn font() -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, FONT, FontStyle::Normal)
}

/// Width and height of a label of one or more lines.
fn text_size(label: &str) -> (i32, i32) {
    ensure_font();
    let lines: Vec<&str> = label.split('\n').collect();
    let width = lines.iter().map(|l| font().box_size(l).map_or(l.chars().count() as i32 * 10, |(w, _)| w as i32));
    (width.max().unwrap_or(0), LINE * lines.len() as i32)
}

fn extent(node: &Node) -> Extent {
    let (w, h) = text_size(node.label);
    let (x, y) = node.at;
    match node.shape {
        Shape::Observed | Shape::Random => {
            let r = w.max(h) / 2 + PAD;
            Extent { x, y, half_w: r, half_h: r, round: true }
        }
        Shape::Computed | Shape::Network => Extent { x, y, half_w: w / 2 + PAD, half_h: h / 2 + PAD / 2, round: false },
        Shape::Text => Extent { x, y, half_w: w / 2 + 2, half_h: h / 2, round: false },
    }
}

impl Diagram<'_> {
    fn find(&self, id: &str) -> Option<&Node<'_>> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Why the picture cannot be drawn as laid out, if it cannot: a repeated or unknown node
    /// name, a node outside the canvas (or in the title band), or two nodes that overlap.
    pub fn check(&self) -> Result<(), String> {
        for (i, n) in self.nodes.iter().enumerate() {
            if self.nodes[..i].iter().any(|m| m.id == n.id) {
                return Err(format!("two nodes are named {:?}", n.id));
            }
        }
        if let Some(e) = self.edges.iter().find(|e| self.find(e.from).is_none() || self.find(e.to).is_none()) {
            return Err(format!("the edge {:?} -> {:?} names a node that does not exist", e.from, e.to));
        }
        if let Some(p) = self.plates.iter().find(|p| p.around.iter().any(|id| self.find(id).is_none())) {
            return Err(format!("the plate {:?} names a node that does not exist", p.label));
        }
        let (w, h) = (self.size.0 as i32, self.size.1 as i32);
        let boxes: Vec<Extent> = self.nodes.iter().map(extent).collect();
        let inside = |b: &Extent| {
            b.x - b.half_w >= 0 && b.x + b.half_w <= w && b.y - b.half_h >= TITLE_BAND && b.y + b.half_h <= h
        };
        if let Some(n) = self.nodes.iter().zip(&boxes).find(|(_, b)| !inside(b)).map(|(n, _)| n) {
            return Err(format!("node {:?} does not fit in the {w} x {h} picture below its title", n.id));
        }
        for i in 0..boxes.len() {
            if let Some(j) = (0..i).find(|&j| overlap(boxes[i], boxes[j], PAD)) {
                return Err(format!("nodes {:?} and {:?} overlap", self.nodes[i].id, self.nodes[j].id));
            }
        }
        for e in self.edges {
            let Some(route) = self.route(e) else { continue };
            let others = self.nodes.iter().zip(&boxes).filter(|(n, _)| n.id != e.from && n.id != e.to);
            if let Some((n, _)) = others.clone().find(|(_, b)| crosses(**b, route.start, route.tip)) {
                return Err(format!("the edge {:?} -> {:?} runs through node {:?}", e.from, e.to, n.id));
            }
            let Some(label) = route.label else { continue };
            if !inside(&label) {
                return Err(format!("the label {:?} does not fit in the picture", e.label));
            }
            if let Some(n) = self.nodes.iter().zip(&boxes).find(|(_, b)| overlap(label, **b, 2)).map(|(n, _)| n) {
                return Err(format!("the label {:?} covers node {:?}", e.label, n.id));
            }
        }
        Ok(())
    }

    /// Draws the picture into a PNG file, after [`Diagram::check`].
    pub fn save(&self, path: &Path) -> PlotResult {
        self.check().map_err(err(path))?;
        create_dir_for(path)?;
        let root = BitMapBackend::new(path, self.size).into_drawing_area();
        let e = |x: String| err(path)(x);
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let title = FontDesc::new(FontFamily::SansSerif, FONT + 2.0, FontStyle::Bold);
        let centre = Pos::new(HPos::Center, VPos::Center);
        let at = (self.size.0 as i32 / 2, TITLE_BAND / 2);
        root.draw(&Text::new(self.title, at, title.color(&BLACK).pos(centre))).map_err(|x| e(x.to_string()))?;
        for plate in self.plates {
            self.draw_plate(&root, plate).map_err(|x| e(x.to_string()))?;
        }
        for edge in self.edges {
            self.draw_edge(&root, edge).map_err(|x| e(x.to_string()))?;
        }
        for node in self.nodes {
            draw_node(&root, node).map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))
    }

    fn draw_plate<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, plate: &Plate) -> DrawResult<DB> {
        let boxes: Vec<Extent> = plate.around.iter().filter_map(|id| self.find(id)).map(extent).collect();
        let (mx, my) = plate.margin;
        let left = boxes.iter().map(|b| b.x - b.half_w).min().unwrap_or(0) - mx;
        let top = boxes.iter().map(|b| b.y - b.half_h).min().unwrap_or(0) - my;
        let right = boxes.iter().map(|b| b.x + b.half_w).max().unwrap_or(0) + mx;
        let bottom = boxes.iter().map(|b| b.y + b.half_h).max().unwrap_or(0) + my + LINE;
        root.draw(&Rectangle::new([(left, top), (right, bottom)], BLACK.stroke_width(1)))?;
        let corner = Pos::new(HPos::Right, VPos::Bottom);
        root.draw(&Text::new(plate.label, (right - 6, bottom - 4), font().color(&BLACK).pos(corner)))
    }

    /// Where an edge runs: from the border of its first node to the border of its second, and
    /// where its label goes, far enough to the side that the label's box clears the line.
    fn route(&self, edge: &Edge) -> Option<Route> {
        let (from, to) = (extent(self.find(edge.from)?), extent(self.find(edge.to)?));
        let (dx, dy) = ((to.x - from.x) as f64, (to.y - from.y) as f64);
        let len = dx.hypot(dy).max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let normal = (uy, -ux); // the left of the direction of travel, on a y-down canvas
        let shifted =
            |e: Extent| (e.x as f64 + normal.0 * edge.shift as f64, e.y as f64 + normal.1 * edge.shift as f64);
        let (out, back) = (leave(from, ux, uy) + GAP, leave(to, ux, uy) + GAP);
        let ((x0, y0), (x1, y1)) = (shifted(from), shifted(to));
        let (start, tip) = ((x0 + ux * out, y0 + uy * out), (x1 - ux * back, y1 - uy * back));
        let neck = (tip.0 - ux * HEAD, tip.1 - uy * HEAD);
        let (w, h) = text_size(edge.label);
        let side = LABEL_OFFSET + normal.0.abs() * w as f64 / 2.0 + normal.1.abs() * h as f64 / 2.0;
        let off = side * edge.label_side as f64;
        let centre = ((start.0 + tip.0) / 2.0 + normal.0 * off, (start.1 + tip.1) / 2.0 + normal.1 * off);
        let (x, y) = (centre.0.round() as i32, centre.1.round() as i32);
        let label = (!edge.label.is_empty()).then_some(Extent { x, y, half_w: w / 2, half_h: h / 2, round: false });
        Some(Route { start, tip, neck, normal, label })
    }

    fn draw_edge<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, edge: &Edge) -> DrawResult<DB> {
        let Some(Route { start, tip, neck, normal, label }) = self.route(edge) else { return Ok(()) };
        let px = |(x, y): (f64, f64)| (x.round() as i32, y.round() as i32);
        let colour = if edge.stroke == Stroke::Gradient { GRADIENT } else { BLACK };
        let style = colour.stroke_width(2);
        if edge.stroke == Stroke::Dashed {
            root.draw(&DashedPathElement::new(vec![px(start), px(neck)], 7, 5, style))?;
        } else {
            root.draw(&PathElement::new(vec![px(start), px(neck)], style))?;
        }
        let wing = |s: f64| px((neck.0 + normal.0 * HEAD_WIDTH * s, neck.1 + normal.1 * HEAD_WIDTH * s));
        root.draw(&Polygon::new(vec![px(tip), wing(1.0), wing(-1.0)], colour.filled()))?;
        match label {
            Some(b) => draw_lines(root, edge.label, (b.x, b.y), colour),
            None => Ok(()),
        }
    }
}

/// An edge's line, from `start` to the arrowhead's `tip` (its base at `neck`), the unit normal
/// to its left, and its label's box.
struct Route {
    start: (f64, f64),
    tip: (f64, f64),
    neck: (f64, f64),
    normal: (f64, f64),
    label: Option<Extent>,
}

/// Whether the segment from `a` to `b` passes through the box `e` (tested at [`CROSSING_SAMPLES`]
/// points along it).
fn crosses(e: Extent, a: (f64, f64), b: (f64, f64)) -> bool {
    (0..=CROSSING_SAMPLES).any(|i| {
        let t = i as f64 / CROSSING_SAMPLES as f64;
        let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        (x - e.x as f64).abs() < e.half_w as f64 && (y - e.y as f64).abs() < e.half_h as f64
    })
}

fn overlap(a: Extent, b: Extent, margin: i32) -> bool {
    (a.x - b.x).abs() < a.half_w + b.half_w + margin && (a.y - b.y).abs() < a.half_h + b.half_h + margin
}

/// Distance from a node's centre to its border along the unit direction `(ux, uy)`.
fn leave(e: Extent, ux: f64, uy: f64) -> f64 {
    if e.round {
        return e.half_w as f64;
    }
    let tx = if ux.abs() > 1e-9 { e.half_w as f64 / ux.abs() } else { f64::INFINITY };
    let ty = if uy.abs() > 1e-9 { e.half_h as f64 / uy.abs() } else { f64::INFINITY };
    tx.min(ty)
}

fn draw_node<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, node: &Node) -> DrawResult<DB> {
    let b = extent(node);
    let corners = [(b.x - b.half_w, b.y - b.half_h), (b.x + b.half_w, b.y + b.half_h)];
    match node.shape {
        Shape::Observed | Shape::Random => {
            let fill = if node.shape == Shape::Observed { SHADE } else { WHITE };
            root.draw(&Circle::new((b.x, b.y), b.half_w, fill.filled()))?;
            root.draw(&Circle::new((b.x, b.y), b.half_w, BLACK.stroke_width(2)))?;
        }
        Shape::Computed | Shape::Network => {
            let fill = if node.shape == Shape::Network { NETWORK } else { WHITE };
            root.draw(&Rectangle::new(corners, fill.filled()))?;
            root.draw(&Rectangle::new(corners, BLACK.stroke_width(2)))?;
        }
        Shape::Text => {}
    }
    draw_lines(root, node.label, (b.x, b.y), BLACK)
}

/// A label's lines, centred on `at`.
fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    label: &str,
    at: (i32, i32),
    colour: RGBColor,
) -> DrawResult<DB> {
    let lines: Vec<&str> = label.split('\n').collect();
    let top = at.1 - LINE * (lines.len() as i32 - 1) / 2;
    for (i, line) in lines.iter().enumerate() {
        let style = font().color(&colour).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(*line, (at.0, top + LINE * i as i32), style))?;
    }
    Ok(())
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn two(at: (i32, i32)) -> [Node<'static>; 2] {
        [
            Node { id: "z", label: "z", at: (100, 100), shape: Shape::Random },
            Node { id: "x", label: "x", at, shape: Shape::Observed },
        ]
    }

    #[test]
    fn check_finds_overlaps_unknown_nodes_and_nodes_off_the_canvas() {
        let edges = [Edge::new("z", "x", Stroke::Solid)];
        let diagram = |nodes| Diagram { title: "t", size: (300, 300), nodes, edges: &edges, plates: &[] };
        let (apart, close, low) = (two((100, 200)), two((110, 110)), two((100, 290)));
        assert_eq!(diagram(&apart).check(), Ok(()));
        assert!(diagram(&close).check().unwrap_err().contains("overlap"));
        assert!(diagram(&low).check().unwrap_err().contains("does not fit"));
        let through = [
            Node { id: "a", label: "a", at: (40, 150), shape: Shape::Computed },
            Node { id: "b", label: "b", at: (150, 150), shape: Shape::Computed },
            Node { id: "c", label: "c", at: (260, 150), shape: Shape::Computed },
        ];
        let long = [Edge::new("a", "c", Stroke::Solid)];
        let d = Diagram { title: "t", size: (300, 300), nodes: &through, edges: &long, plates: &[] };
        assert!(d.check().unwrap_err().contains("runs through node \"b\""));
        let bad = [Edge::new("z", "y", Stroke::Dashed)];
        let nodes = two((100, 200));
        let d = Diagram { title: "t", size: (300, 300), nodes: &nodes, edges: &bad, plates: &[] };
        assert!(d.check().unwrap_err().contains("does not exist"));
    }

    #[test]
    fn boxes_grow_with_their_labels() {
        let node = |label| Node { id: "a", label, at: (0, 0), shape: Shape::Computed };
        let (short, long) = (extent(&node("μ")), extent(&node("encoder, 784 → 400")));
        assert!(long.half_w > 3 * short.half_w, "{} vs {}", long.half_w, short.half_w);
        assert_eq!(extent(&node("a\nb")).half_h - extent(&node("a")).half_h, LINE / 2);
    }

    #[test]
    fn an_arrow_leaves_a_box_through_its_border() {
        let e = Extent { x: 0, y: 0, half_w: 40, half_h: 10, round: false };
        assert!((leave(e, 1.0, 0.0) - 40.0).abs() < 1e-9);
        assert!((leave(e, 0.0, 1.0) - 10.0).abs() < 1e-9);
        let c = Extent { round: true, half_w: 25, ..e };
        assert!((leave(c, 0.6, 0.8) - 25.0).abs() < 1e-9);
    }
}
