//! The embedded scikit-learn tables and the errors of their parser.

use vae_book::data::tabular::{self, Table, TableError};

#[test]
fn embedded_tables_have_their_documented_shape() {
    let iris = tabular::iris().unwrap();
    assert_eq!((iris.rows(), iris.features), (150, 4));
    assert_eq!(iris.class_names, ["setosa", "versicolor", "virginica"]);
    for class in 0..3 {
        assert_eq!(iris.labels.iter().filter(|l| **l == class).count(), 50);
    }
    assert_eq!(iris.row(0), &[5.1, 3.5, 1.4, 0.2]);
    let cancer = tabular::breast_cancer().unwrap();
    assert_eq!((cancer.rows(), cancer.features), (569, 30));
    assert_eq!(cancer.labels.iter().filter(|l| **l == 0).count(), 212, "malignant");
    assert_eq!(cancer.labels.iter().filter(|l| **l == 1).count(), 357, "benign");
    assert_eq!(tabular::breast_cancer_features().len(), 30);
    assert_eq!(tabular::breast_cancer_features()[20], "radius (worst)");
}

#[test]
fn standardized_columns_have_mean_zero_and_unit_variance() {
    let t = tabular::breast_cancer().unwrap().standardized();
    let n = t.rows() as f64;
    for c in 0..t.features {
        let mean = (0..t.rows()).map(|i| t.row(i)[c]).sum::<f64>() / n;
        let var = (0..t.rows()).map(|i| (t.row(i)[c] - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-9, "column {c}: mean {mean}, var {var}");
    }
    assert_eq!(tabular::iris().unwrap().columns(&[3, 2]).row(0), &[0.2, 1.4]);
}

#[test]
fn malformed_tables_are_rejected_with_the_line_named() {
    let err = |csv: &str| Table::parse("t.csv", csv).unwrap_err();
    assert!(matches!(err("a,b\n1,0\n"), TableError::Header { .. }));
    assert_eq!(
        err("2,1,x,y\n1.0,0\n1.0\n"),
        TableError::Width { name: "t.csv".into(), line: 3, expected: 2, found: 1 }
    );
    assert_eq!(err("1,1,x,y\nabc,0\n"), TableError::Number { name: "t.csv".into(), line: 2, value: "abc".into() });
    assert_eq!(err("1,1,x,y\nNaN,0\n"), TableError::Number { name: "t.csv".into(), line: 2, value: "NaN".into() });
    assert_eq!(err("1,1,x,y\n1.0,2\n"), TableError::Class { name: "t.csv".into(), line: 2, class: 2, classes: 2 });
    assert_eq!(err("3,1,x,y\n1.0,0\n"), TableError::Rows { name: "t.csv".into(), expected: 3, found: 1 });
    let msg = err("2,1,x,y\n1.0,0\n1.0\n").to_string();
    assert!(msg.contains("t.csv, line 3"), "{msg}");
}
