//! Small tabular data sets in scikit-learn's CSV layout, embedded from `data/sklearn/`
//! (copied from the scikit-learn 1.9.1 wheel; provenance and licences in `data/sklearn/README.md`).
//!
//! The layout: a header `rows,features,class name,class name,...`, then one row per example with
//! the features followed by the class index.

use thiserror::Error;

const IRIS_CSV: &str = include_str!("../../data/sklearn/iris.csv");
const BREAST_CANCER_CSV: &str = include_str!("../../data/sklearn/breast_cancer.csv");

/// A table of `f64` features with one class label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Row-major, `rows * features` values.
    pub x: Vec<f64>,
    pub labels: Vec<usize>,
    pub features: usize,
    pub class_names: Vec<String>,
}

#[derive(Debug, Error, PartialEq)]
pub enum TableError {
    #[error("{name}: the header should be `rows,features,class names...`, found {header:?}")]
    Header { name: String, header: String },
    #[error("{name}, line {line}: expected {expected} comma-separated values, found {found}")]
    Width { name: String, line: usize, expected: usize, found: usize },
    #[error("{name}, line {line}: {value:?} is not a number")]
    Number { name: String, line: usize, value: String },
    #[error("{name}, line {line}: class {class} but the header names {classes} classes")]
    Class { name: String, line: usize, class: usize, classes: usize },
    #[error("{name}: the header promises {expected} rows, the file has {found}")]
    Rows { name: String, expected: usize, found: usize },
}

impl Table {
    /// Parses scikit-learn's CSV layout; `name` is used in error messages.
    pub fn parse(name: &str, csv: &str) -> Result<Self, TableError> {
        let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().unwrap_or_default();
        let fields: Vec<&str> = header.split(',').map(str::trim).collect();
        let bad_header = || TableError::Header { name: name.into(), header: header.into() };
        let (rows, features) = match fields.as_slice() {
            [r, f, _, ..] => {
                (r.parse::<usize>().map_err(|_| bad_header())?, f.parse::<usize>().map_err(|_| bad_header())?)
            }
            _ => return Err(bad_header()),
        };
        let class_names: Vec<String> = fields[2..].iter().map(|s| s.to_string()).collect();
        let mut table = Table { x: Vec::with_capacity(rows * features), labels: Vec::new(), features, class_names };
        for (i, line) in lines.enumerate() {
            let line_no = i + 2;
            let values: Vec<&str> = line.split(',').map(str::trim).collect();
            if values.len() != features + 1 {
                let found = values.len();
                return Err(TableError::Width { name: name.into(), line: line_no, expected: features + 1, found });
            }
            let number = |v: &str| {
                v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| TableError::Number {
                    name: name.into(),
                    line: line_no,
                    value: v.into(),
                })
            };
            for v in &values[..features] {
                table.x.push(number(v)?);
            }
            let class = number(values[features])? as usize;
            if class >= table.class_names.len() {
                let classes = table.class_names.len();
                return Err(TableError::Class { name: name.into(), line: line_no, class, classes });
            }
            table.labels.push(class);
        }
        if table.labels.len() != rows {
            return Err(TableError::Rows { name: name.into(), expected: rows, found: table.labels.len() });
        }
        Ok(table)
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.features..(i + 1) * self.features]
    }

    /// The table restricted to the given feature columns, in that order.
    pub fn columns(&self, cols: &[usize]) -> Table {
        let x = (0..self.rows()).flat_map(|i| cols.iter().map(move |&c| self.x[i * self.features + c])).collect();
        Table { x, labels: self.labels.clone(), features: cols.len(), class_names: self.class_names.clone() }
    }

    /// Each column shifted and scaled to mean 0 and standard deviation 1.
    pub fn standardized(&self) -> Table {
        let (n, d) = (self.rows() as f64, self.features);
        let mut out = self.clone();
        for c in 0..d {
            let mean = (0..self.rows()).map(|i| self.x[i * d + c]).sum::<f64>() / n;
            let var = (0..self.rows()).map(|i| (self.x[i * d + c] - mean).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt().max(1e-12);
            for i in 0..self.rows() {
                out.x[i * d + c] = (self.x[i * d + c] - mean) / sd;
            }
        }
        out
    }
}

/// Fisher's iris flowers: 150 rows, 4 measurements in cm (sepal length, sepal width, petal length,
/// petal width), 3 species.
pub fn iris() -> Result<Table, TableError> {
    Table::parse("iris.csv", IRIS_CSV)
}

/// The names of [`iris`]'s columns.
pub const IRIS_FEATURES: [&str; 4] = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"];

/// Breast Cancer Wisconsin (Diagnostic): 569 rows, 30 features of cell nuclei, 2 classes
/// (0 malignant, 1 benign).
pub fn breast_cancer() -> Result<Table, TableError> {
    Table::parse("breast_cancer.csv", BREAST_CANCER_CSV)
}

/// The names of [`breast_cancer`]'s columns: ten measurements, as mean, standard error and worst.
pub fn breast_cancer_features() -> Vec<String> {
    const BASE: [&str; 10] = [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    ];
    ["mean", "s.e.", "worst"].iter().flat_map(|kind| BASE.iter().map(move |b| format!("{b} ({kind})"))).collect()
}
