//! Layers read straight into panels against the same layers read and then packed.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use half::bf16;

use super::{WeightReader, packed_linear};
use crate::model::checkpoint::read_header_and_metadata;
use crate::model::sgemm::{self, pack_weight};
use crate::model::test_values::uniform;

/// Rows of the three stacked parts: off the 16- and 32-wide panels, so panels straddle
/// parts; `K` crosses a 256-deep block and is off the 8-wide transposes.
const ROWS: [usize; 3] = [21, 13, 40];
const K: usize = 300;

fn tensor(rows: usize, cols: usize, seed: u64, dtype: DType) -> Tensor {
    Tensor::from_vec(uniform(rows * cols, seed), (rows, cols), &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .unwrap()
}

/// A safetensors file of three parts (`p0..p2`, weights and biases) stored as `stored`.
fn write_parts(dir: &Path, stored: DType) -> std::path::PathBuf {
    let mut tensors = HashMap::new();
    for (i, rows) in ROWS.iter().enumerate() {
        let seed = 10 * i as u64;
        tensors.insert(format!("p{i}.weight"), tensor(*rows, K, seed + 1, stored));
        let bias = tensor(1, *rows, seed + 2, stored).flatten_all().unwrap();
        tensors.insert(format!("p{i}.bias"), bias);
    }
    let path = dir.join("parts.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    path
}

fn reader(path: &Path) -> WeightReader {
    WeightReader::new(read_header_and_metadata(path).unwrap().0)
}

fn parts<'a>(vb: &VarBuilder<'a>) -> Vec<(usize, VarBuilder<'a>, bool)> {
    (0..3)
        .map(|i| (ROWS[i], vb.pp(format!("p{i}")), true))
        .collect()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .unwrap()
}

/// For every stored dtype and layer dtype: the panels read from the file are exactly the
/// stored values packed (stacked as `fused` stacks them; bfloat16 stays bfloat16 for a
/// float32 layer), or absent where they do not apply; the layer's products are bit for bit
/// those of the layer read then packed (float32 panels of the widened values for a float32
/// layer), and within float32 rounding of candle's product.
#[test]
fn panels_read_from_the_file_equal_the_read_weight_packed() {
    let dir = tempfile::tempdir().unwrap();
    let amx = crate::model::amx::available();
    for stored in [DType::BF16, DType::F32] {
        let path = write_parts(dir.path(), stored);
        for dtype in [DType::F32, DType::BF16] {
            let case = format!("{stored:?} stored, {dtype:?} panels");
            let vb = VarBuilder::from_backend(Box::new(reader(&path)), dtype, Device::Cpu);
            let r = reader(&path);
            let names: Vec<(String, usize)> =
                (0..3).map(|i| (format!("p{i}.weight"), ROWS[i])).collect();
            let got = r.read_packed(&names, K, dtype).unwrap();
            let stacked = Tensor::cat(
                &(0..3)
                    .map(|i| vb.get((ROWS[i], K), &format!("p{i}.weight")).unwrap())
                    .collect::<Vec<_>>(),
                0,
            )
            .unwrap();
            let n: usize = ROWS.iter().sum();
            // Stored bfloat16 stays bfloat16 in the panels of either dtype.
            let want = match (stored, dtype) {
                (DType::F32, DType::F32) => pack_weight(
                    &stacked.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    (n, K),
                ),
                _ => pack_weight(
                    &stacked
                        .to_dtype(DType::BF16)
                        .and_then(|t| t.flatten_all())
                        .and_then(|t| t.to_vec1::<bf16>())
                        .unwrap(),
                    (n, K),
                ),
            };
            let applies = sgemm::available() && !(stored == DType::F32 && dtype == DType::BF16);
            assert_eq!(got.is_some(), applies, "{case}");
            if applies {
                assert!(got == want, "{case}: the panels differ");
            }

            // The layers: straight from the file, and read then packed (float32 panels of
            // the widened values for a float32 layer: its products must be the same bits).
            let direct = packed_linear(K, &parts(&vb), Some(&r)).unwrap();
            let read_then_packed = packed_linear(K, &parts(&vb), None).unwrap();
            let biases: Vec<Tensor> = (0..3)
                .map(|i| vb.get(ROWS[i], &format!("p{i}.bias")).unwrap())
                .collect();
            let plain = crate::model::linear::Linear::new(
                stacked.to_dtype(DType::F32).unwrap(),
                Some(
                    Tensor::cat(&biases, 0)
                        .unwrap()
                        .to_dtype(DType::F32)
                        .unwrap(),
                ),
            );
            // A middle part without a bias (BEiT's key): zeros in its place, both ways.
            let mut mixed = parts(&vb);
            mixed[1].2 = false;
            let mixed_direct = packed_linear(K, &mixed, Some(&r)).unwrap();
            let mixed_read = packed_linear(K, &mixed, None).unwrap();
            for m in [1, 3, 9] {
                let x = tensor(m, K, 99 + m as u64, DType::F32);
                let md = values(&mixed_direct.forward(&x).unwrap());
                assert_eq!(
                    md,
                    values(&mixed_read.forward(&x).unwrap()),
                    "{case}, mixed"
                );
                let d = values(&direct.forward(&x).unwrap());
                // Only the middle part's outputs lose their bias.
                let b1 = values(&vb.get(ROWS[1], "p1.bias").unwrap());
                for (j, (with, without)) in d.iter().zip(&md).enumerate() {
                    let col = j % n;
                    let in_middle = (ROWS[0]..ROWS[0] + ROWS[1]).contains(&col);
                    let want = if in_middle {
                        with - b1[col - ROWS[0]]
                    } else {
                        *with
                    };
                    assert!(
                        (without - want).abs() <= 1e-5,
                        "{case}, {m} rows, value {j}"
                    );
                }
                assert_eq!(
                    d,
                    values(&read_then_packed.forward(&x).unwrap()),
                    "{case}, {m} rows"
                );
                let exact = values(&x.matmul(&plain.weight().t().unwrap()).unwrap());
                let b = values(&Tensor::cat(&biases, 0).unwrap());
                // Values up to ~0.25 K; float32 sums (bfloat16 panels: one output rounding).
                let tol = if dtype == DType::BF16 && !amx {
                    0.2
                } else {
                    1e-3
                };
                for (j, (g, e)) in d.iter().zip(&exact).enumerate() {
                    let e = e + b[j % n];
                    assert!(
                        (g - e).abs() <= tol,
                        "{case}, {m} rows, value {j}: {g} vs {e}"
                    );
                }
            }
        }
    }
}

/// A part whose stored shape is not the layer's, a missing part, or a file cut short after
/// its header was read: errors naming the file or the tensor, never panels of garbage.
#[test]
fn wrong_shapes_missing_tensors_and_short_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_parts(dir.path(), DType::BF16);
    let r = reader(&path);
    let e = r
        .read_packed(&[("p0.weight".into(), ROWS[0] + 1)], K, DType::F32)
        .expect_err("wrong rows");
    assert!(e.to_string().contains("parts.safetensors"), "{e}");
    let e = r
        .read_packed(&[("p0.weight".into(), ROWS[0])], K - 1, DType::F32)
        .expect_err("wrong width");
    assert!(e.to_string().contains("expected"), "{e}");
    let e = r
        .read_packed(&[("nope.weight".into(), 1)], K, DType::F32)
        .expect_err("missing");
    assert!(e.to_string().contains("nope.weight"), "{e}");
    if sgemm::available() {
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(std::fs::metadata(&path).unwrap().len() / 2)
            .unwrap();
        let names: Vec<(String, usize)> =
            (0..3).map(|i| (format!("p{i}.weight"), ROWS[i])).collect();
        let e = r.read_packed(&names, K, DType::F32).expect_err("cut short");
        assert!(e.to_string().contains("cannot read"), "{e}");
        assert!(e.to_string().contains("parts.safetensors"), "{e}");
    }
}

/// An embedding table stays as stored where widening is exact (bfloat16 stored, a float32
/// model) and its values are the float32 table's; stored float32, a bfloat16 model, or no
/// checkpoint reader: read as the model's dtype.
#[test]
fn tables_stay_as_stored_only_where_widening_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    for stored in [DType::BF16, DType::F32] {
        let path = write_parts(dir.path(), stored);
        let r = reader(&path);
        for dtype in [DType::F32, DType::BF16] {
            let vb = VarBuilder::from_backend(Box::new(reader(&path)), dtype, Device::Cpu);
            let shape = (ROWS[2], K);
            let kept = super::table_as_stored(&vb, shape, "p2.weight", Some(&r)).unwrap();
            let narrow = stored == DType::BF16 && dtype == DType::F32;
            let want_dtype = if narrow { DType::BF16 } else { dtype };
            assert_eq!(
                kept.dtype(),
                want_dtype,
                "{stored:?} stored, {dtype:?} model"
            );
            let read = vb.get(shape, "p2.weight").unwrap();
            assert_eq!(values(&kept), values(&read), "{stored:?}, {dtype:?}");
            let plain = super::table_as_stored(&vb, shape, "p2.weight", None).unwrap();
            assert_eq!(plain.dtype(), dtype);
            assert!(super::table_as_stored(&vb, shape, "nope", Some(&r)).is_err());
        }
    }
}
