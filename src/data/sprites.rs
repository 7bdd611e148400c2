//! A dSprites-like data set (Matthey et al. 2017), generated in the crate: white shapes on black,
//! [`SIDE`] x [`SIDE`] pixels, each image made from five known factors, so that a model's codes can be
//! scored against the factors that made the images (the disentanglement chapter).
//!
//! The factors follow dSprites at half its resolution (64 pixels there, 32 here):
//! - shape: square, ellipse, heart (3 values);
//! - scale: 6 values from 0.5 to 1;
//! - orientation: 40 angles from 0 up to (not including) 2π; dSprites includes both ends, which
//!   draws the same image twice;
//! - x and y position of the shape's centre: 16 values each, kept far enough from the border that
//!   no shape at any scale or angle leaves the picture.
//!
//! A pixel is 1 when its centre lies inside the shape, else 0 (binary, as in dSprites). As in
//! dSprites, the square looks the same turned by a quarter turn and the ellipse by a half turn, so
//! orientation cannot be read off every image: a model cannot recover more than the picture shows.
//! Images are drawn with every factor chosen uniformly and independently, from a seed.

use super::{Dataset, Images};
use crate::prob::SeededRng;
use candle_core::{Device, Tensor};

/// Pixels per side.
pub const SIDE: usize = 32;
/// The factors, in the order of [`Factors`]: name and number of values.
pub const FACTORS: [(&str, usize); 5] = [("shape", 3), ("scale", 6), ("orientation", 40), ("x", 16), ("y", 16)];
/// The smallest and largest scale.
const SCALES: (f64, f64) = (0.5, 1.0);
/// The radius, in pixels, of the circle that holds a shape of scale 1 at every angle.
const RADIUS: f64 = 0.2 * SIDE as f64;

/// One image's factors, each an index into its factor's values (see [`FACTORS`]).
pub type Factors = [usize; 5];

/// The shapes, in the order of the shape factor's values.
pub const SHAPES: [&str; 3] = ["square", "ellipse", "heart"];

/// Whether the point `(u, v)` of a shape's own frame (the shape fits in the unit circle, `v` up)
/// lies inside the shape `shape`.
fn inside(shape: usize, u: f64, v: f64) -> bool {
    match shape {
        0 => u.abs() <= 0.7 && v.abs() <= 0.7,
        1 => u * u + 4.0 * v * v <= 1.0,
        _ => {
            // The heart (x² + y² - 1)³ = x² y³, about 2.3 wide and 2.2 high, shrunk into the
            // unit circle.
            let (x, y) = (1.4 * u, 1.4 * v + 0.1);
            (x * x + y * y - 1.0).powi(3) <= x * x * y.powi(3)
        }
    }
}

/// The value of each continuous factor: scale, angle (radians) and centre (pixels).
fn geometry(f: &Factors) -> (f64, f64, (f64, f64)) {
    let step = |i: usize, n: usize, (lo, hi): (f64, f64)| lo + (hi - lo) * i as f64 / (n - 1) as f64;
    let scale = step(f[1], FACTORS[1].1, SCALES);
    let angle = std::f64::consts::TAU * f[2] as f64 / FACTORS[2].1 as f64;
    let margin = RADIUS + 1.0;
    let span = (margin, SIDE as f64 - margin);
    (scale, angle, (step(f[3], FACTORS[3].1, span), step(f[4], FACTORS[4].1, span)))
}

/// The image of `f`, `SIDE * SIDE` values of 0 or 1, row by row from the top.
pub fn render(f: &Factors) -> Vec<f32> {
    let (scale, angle, (cx, cy)) = geometry(f);
    let (sin, cos) = angle.sin_cos();
    let r = RADIUS * scale;
    let mut pixels = vec![0.0f32; SIDE * SIDE];
    for (i, p) in pixels.iter_mut().enumerate() {
        // Offset of the pixel's centre from the shape's, with y up, turned back by the angle.
        let (dx, dy) = (((i % SIDE) as f64 + 0.5 - cx) / r, (cy - (i / SIDE) as f64 - 0.5) / r);
        let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
        if inside(f[0], u, v) {
            *p = 1.0;
        }
    }
    pixels
}

/// Images and the factors that made them.
pub struct Sprites {
    /// `len() * SIDE * SIDE` values of 0 or 1.
    pub pixels: Vec<f32>,
    pub factors: Vec<Factors>,
}

impl Sprites {
    /// `n` images whose factors are drawn uniformly and independently with `seed`.
    pub fn sample(n: usize, seed: u64) -> Self {
        let mut rng = SeededRng::derived(seed, "sprites", 0);
        let mut draw = |values: usize| ((rng.uniform_f64() * values as f64) as usize).min(values - 1);
        let factors: Vec<Factors> = (0..n).map(|_| FACTORS.map(|(_, values)| draw(values))).collect();
        let pixels = factors.iter().flat_map(render).collect();
        Self { pixels, factors }
    }

    pub fn len(&self) -> usize {
        self.factors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.factors.is_empty()
    }

    /// The images as one `(len, SIDE * SIDE)` tensor.
    pub fn images(&self, dev: &Device) -> candle_core::Result<Tensor> {
        Tensor::from_slice(&self.pixels, (self.len(), SIDE * SIDE), dev)
    }

    /// The images as a [`Dataset`] (pixels 0 or 255, the shape as label), for the trainers that
    /// read MNIST-format images.
    pub fn dataset(&self) -> Dataset {
        let pixels = self.pixels.iter().map(|&p| if p > 0.5 { 255 } else { 0 }).collect();
        Dataset { pixels, labels: self.factor(0).into_iter().map(|s| s as u8).collect(), rows: SIDE, cols: SIDE }
    }

    /// Factor `k` of every image.
    pub fn factor(&self, k: usize) -> Vec<usize> {
        self.factors.iter().map(|f| f[k]).collect()
    }
}

/// Seeds of the training and test draws: the same images for every run, whatever its seed.
pub const TRAIN_SEED: u64 = 1;
pub const TEST_SEED: u64 = 2;

/// Sprites ready for training: the images, and the factors of the test images (to score codes).
pub struct SpriteSet {
    pub images: Images,
    pub test_factors: Vec<Factors>,
}

impl SpriteSet {
    /// `train` and `test` images drawn with [`TRAIN_SEED`] and [`TEST_SEED`].
    pub fn sample(train: usize, test: usize, dev: &Device) -> candle_core::Result<Self> {
        let (tr, te) = (Sprites::sample(train, TRAIN_SEED), Sprites::sample(test, TEST_SEED));
        Ok(Self { images: Images::new(&tr.dataset(), &te.dataset(), dev)?, test_factors: te.factors })
    }

    /// Factor `k` of every test image.
    pub fn test_factor(&self, k: usize) -> Vec<usize> {
        self.test_factors.iter().map(|f| f[k]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(pixels: &[f32]) -> Vec<(f64, f64)> {
        let at = |i: usize| ((i % SIDE) as f64 + 0.5, (i / SIDE) as f64 + 0.5);
        pixels.iter().enumerate().filter(|(_, p)| **p > 0.5).map(|(i, _)| at(i)).collect()
    }

    #[test]
    fn every_shape_stays_inside_its_circle_and_the_picture() {
        let sprites = Sprites::sample(500, 1);
        for (k, f) in sprites.factors.iter().enumerate() {
            let (scale, _, (cx, cy)) = geometry(f);
            let pixels = &sprites.pixels[k * SIDE * SIDE..(k + 1) * SIDE * SIDE];
            let points = on(pixels);
            assert!(points.len() >= 10, "{f:?} draws {} pixels", points.len());
            for (x, y) in points {
                assert!((x - cx).hypot(y - cy) <= RADIUS * scale + 0.01, "{f:?}: ({x}, {y}) outside its circle");
            }
            let border = (0..SIDE).flat_map(|i| [i, SIDE * (SIDE - 1) + i, SIDE * i, SIDE * i + SIDE - 1]);
            assert!(border.into_iter().all(|i| pixels[i] == 0.0), "{f:?} touches the border");
        }
    }

    #[test]
    fn area_grows_as_the_square_of_the_scale() {
        for (shape, name) in SHAPES.iter().enumerate() {
            let area = |s: usize| on(&render(&[shape, s, 0, 8, 8])).len() as f64;
            let ratio = area(5) / area(0);
            // Four times, up to the pixels at the border of the small shape.
            assert!((3.0..5.0).contains(&ratio), "{name}: area ratio {ratio}");
        }
    }

    #[test]
    fn the_centre_follows_the_position_factors() {
        for shape in 0..2 {
            for (x, y) in [(0, 0), (15, 3), (7, 12)] {
                let f = [shape, 3, 5, x, y];
                let points = on(&render(&f));
                let n = points.len() as f64;
                let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
                let (_, _, (cx, cy)) = geometry(&f);
                assert!(
                    (mx - cx).abs() < 0.5 && (my - cy).abs() < 0.5,
                    "{f:?}: centroid ({mx}, {my}), centre ({cx}, {cy})"
                );
            }
        }
    }

    /// What the module's documentation says of orientation: a quarter turn leaves the square as it
    /// was and a half turn the ellipse, but not the heart.
    #[test]
    fn symmetric_shapes_repeat_their_images() {
        let turn = |shape, quarter| render(&[shape, 5, quarter * FACTORS[2].1 / 4 + 3, 8, 8]);
        // Pixels that differ: a centre lying on the border to rounding may fall either way.
        let differ = |a: Vec<f32>, b: Vec<f32>| a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(differ(turn(0, 0), turn(0, 1)) <= 2);
        assert!(differ(turn(1, 0), turn(1, 2)) <= 2);
        assert!(differ(turn(1, 0), turn(1, 1)) > 20);
        assert!(differ(turn(2, 0), turn(2, 2)) > 20);
    }

    #[test]
    fn draws_are_seeded_and_cover_every_value() {
        let (a, b) = (Sprites::sample(3000, 7), Sprites::sample(3000, 7));
        assert_eq!(a.factors, b.factors);
        assert_ne!(a.factors, Sprites::sample(3000, 8).factors);
        for (k, (name, values)) in FACTORS.iter().enumerate() {
            let mut counts = vec![0usize; *values];
            a.factor(k).into_iter().for_each(|v| counts[v] += 1);
            let expected = 3000 / values;
            assert!(counts.iter().all(|&c| c > expected / 2), "{name}: {counts:?}");
        }
    }
}
