//! Parity of `geometry` with the reference's outputs (`tests/golden/`): intrinsics scaling
//! and bf16 rounding (exact float32), the sample grid, pooled depth and per-patch points
//! (1e-5 relative), and the Ego3D frequency encoding (1e-5 relative).

use crate::common;

use serde_json::Value;
use spatialscope::geometry::{
    PatchSampling, bf16_matrix, frequency_encoding, inverse_pinhole, patch_points, scale_to,
};

fn golden(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("tests/golden").join(name)).expect("read"),
    )
    .expect("json")
}

fn mat3(v: &Value) -> [[f64; 3]; 3] {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("num"))
                .collect()
        })
        .collect();
    std::array::from_fn(|i| std::array::from_fn(|j| rows[i][j]))
}

fn mat3f(v: &Value) -> [[f32; 3]; 3] {
    mat3(v).map(|r| r.map(|x| x as f32))
}

fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().expect("num") as f32],
        _ => panic!("not numeric"),
    }
}

fn assert_rel(got: &[f32], want: &[f32], rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1e-3);
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn intrinsics_scale_round_and_invert_exactly_as_the_reference() {
    for c in golden("intrinsics.json")["cases"]
        .as_array()
        .expect("cases")
    {
        let id = c["id"].as_str().expect("id");
        let k = mat3(&c["input_intrinsic"]);
        let w = c["input_width"].as_u64().expect("w") as u32;
        let h = c["input_height"].as_u64().expect("h") as u32;
        let scaled = scale_to(&k, w, h, 224, 224);
        assert_eq!(scaled, mat3f(&c["scaled_intrinsic_float32"]), "{id} scaled");
        let bf = bf16_matrix(&scaled);
        assert_eq!(
            bf,
            mat3f(&c["scaled_intrinsic_after_bfloat16_cast"]),
            "{id} bf16"
        );
        assert_eq!(
            inverse_pinhole(&scaled).expect("inv"),
            mat3f(&c["inverse_of_scaled_float32"]),
            "{id} inverse"
        );
        assert_eq!(
            inverse_pinhole(&bf).expect("inv"),
            mat3f(&c["inverse_of_bfloat16_cast"]),
            "{id} inverse bf16"
        );
    }
}

#[test]
fn patch_sampling_pooling_and_points_match() {
    let g = golden("backprojection.json");
    let tensors = common::repo().join("tests/golden/backprojection_full.safetensors");
    for c in g["cases"].as_array().expect("cases") {
        let id = c["id"].as_str().expect("id");
        let sampling = PatchSampling {
            image_size: c["image_size"].as_u64().expect("size") as usize,
            patch_size: c["patch_size"].as_u64().expect("patch") as usize,
            reso: c["reso"].as_u64().expect("reso") as usize,
        };
        assert!(sampling.is_valid());
        let k_inv = inverse_pinhole(&mat3f(&c["K"])).expect("inv");
        let depth = match &c["depth"] {
            Value::String(s) => {
                common::read_f32_tensor(&tensors, s.strip_prefix("safetensors:").expect("prefix")).1
            }
            v => flat(v),
        };
        // Sample grid: u row then v row.
        let uv = flat(&c["sample_pixel_grid_uv"]);
        let px = sampling.sample_pixels();
        let n = px.len();
        let ours: Vec<f32> = px
            .iter()
            .map(|p| p.0)
            .chain(px.iter().map(|p| p.1))
            .collect();
        assert_eq!(ours, uv, "{id} sample grid");
        assert_eq!(n, sampling.samples_per_side().pow(2));
        assert_rel(
            &sampling.pool_depth(&depth),
            &flat(&c["pooled_depth"]),
            1e-5,
            &format!("{id} pooled"),
        );
        let pts: Vec<f32> = patch_points(&sampling, &depth, &k_inv)
            .expect("points")
            .into_iter()
            .flatten()
            .collect();
        assert_rel(&pts, &flat(&c["xyz_per_patch"]), 1e-5, &format!("{id} xyz"));
    }
}

#[test]
fn ego3d_frequency_encoding_matches() {
    let g = golden("ego3d_mlp.json");
    for c in g["cases"].as_array().expect("cases") {
        assert_eq!(
            flat(&c["freq_bands"]),
            [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]
        );
        let xyz: Vec<Vec<f32>> = c["xyz"]
            .as_array()
            .expect("rows")
            .iter()
            .map(flat)
            .collect();
        let want: Vec<Vec<f32>> = c["frequency_encoding"]
            .as_array()
            .expect("rows")
            .iter()
            .map(flat)
            .collect();
        for (row, w) in xyz.iter().zip(&want) {
            let enc = frequency_encoding(row);
            assert_eq!(enc.len(), 204);
            assert_rel(&enc, w, 1e-5, "encoding");
        }
    }
}

#[test]
fn unusable_samplings_are_refused() {
    // The configuration class default reso 4 cannot work with patch 14 (spec 5.4).
    let bad = PatchSampling {
        reso: 4,
        ..PatchSampling::RELEASED
    };
    assert!(!bad.is_valid());
    assert!(
        patch_points(
            &bad,
            &vec![1.0; 224 * 224],
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        )
        .is_none()
    );
    assert!(
        patch_points(
            &PatchSampling::RELEASED,
            &[1.0; 10],
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        )
        .is_none(),
        "wrong depth size"
    );
}

/// A physical check on the shipped simulated episodes: both cameras, each back-projected
/// with its own K and world_from_camera (the wrist camera moves: per-step pose), put the
/// table top on the simulator's plane z = 0.800 m.
#[test]
fn both_sim_cameras_fuse_onto_the_table_plane() {
    use spatialscope::episode::{self, FrameCache};
    use spatialscope::geometry::{backproject_depth, to_world};
    let d = &episode::open_path(&common::native_dir())
        .expect("open")
        .datasets[0];
    let cache = std::sync::Arc::new(FrameCache::new(64 << 20));
    let ep = d.open_episode(0, &cache).expect("episode");
    for (cam_index, step) in [(0, 0), (1, 0), (1, 20)] {
        let cam = &ep.cameras[cam_index];
        let k = cam.intrinsics.expect("K");
        let k_inv = inverse_pinhole(&mat3f(&serde_json::json!([
            [k.fx_px, 0.0, k.cx_px],
            [0.0, k.fy_px, k.cy_px],
            [0.0, 0.0, 1.0]
        ])))
        .expect("inv");
        let depth = ep.depth(step, cam_index).expect("decode").expect("depth");
        let pts: Vec<[f32; 3]> =
            backproject_depth(&depth.depth_m, depth.width_px, depth.height_px, &k_inv)
                .into_iter()
                .map(|(_, p)| p)
                .collect();
        let world = to_world(cam.poses.world_from_camera(step).expect("pose"), &pts);
        let on_table = world.iter().filter(|p| (p[2] - 0.8).abs() < 0.002).count();
        let frac = on_table as f64 / world.len() as f64;
        assert!(
            frac > 0.25,
            "{} step {step}: only {:.1} % of points on z = 0.8 m",
            cam.name,
            100.0 * frac
        );
    }
}
