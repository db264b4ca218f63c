//! Spatial embedding adaptation (spec 4): re-gridding the action-token embedding table for a
//! new robot's grid by interpolating the old table at the new bin centres.
//!
//! Per group (translation: theta, phi, r; rotation: roll, pitch, yaw) each axis gets the
//! coordinates `[lo, bin midpoints..., hi]` mapped to [0, 1], the group's rows are padded by
//! one repeated cell on every side, and values are interpolated at the new coordinates.
//!
//! Two modes:
//! - [`AdaptMode::ReferenceCompatible`] reproduces the reference's pairing of values with
//!   points: rows are laid out axis-1-slowest but points come from a Cartesian ("xy")
//!   meshgrid, axis-2-slowest, so value `q` sits at point `q` of the other ordering (a
//!   roll/pitch swap for rotation, a scramble of theta/phi cells for translation). It then
//!   interpolates trilinearly on that rectilinear point set, which equals the reference's
//!   Delaunay-based linear interpolation whenever the field is affine inside every grid box
//!   (the golden cases not flagged `triangulation_dependent`).
//! - [`AdaptMode::Intended`] interpolates trilinearly with matching orderings: what the
//!   paper describes, for previewing what a correct adaptation would do.
//!
//! Gripper rows are never changed.

use super::grid::{ActionGrid, Axis};
use super::{GridError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdaptMode {
    ReferenceCompatible,
    Intended,
}

/// `[lo, midpoints..., hi]` of an edge list, mapped to [0, 1].
pub fn normalized_centres(axis: Axis, edges: &[f64]) -> Result<Vec<f64>> {
    let lo = edges[0];
    let hi = edges[edges.len() - 1];
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Err(GridError::BadEdges {
            axis: axis.name(),
            what: format!("zero-width range [{lo}, {hi}] cannot be re-gridded"),
        });
    }
    let mut c = Vec::with_capacity(edges.len() + 1);
    c.push(lo);
    c.extend(edges.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    c.push(hi);
    Ok(c.into_iter().map(|v| (v - lo) / (hi - lo)).collect())
}

/// Cell index and fraction of `x` on sorted coordinates.
fn locate(coords: &[f64], x: f64) -> (usize, f64) {
    let n = coords.len();
    let k = coords
        .partition_point(|&c| c <= x)
        .saturating_sub(1)
        .min(n - 2);
    let w = coords[k + 1] - coords[k];
    let t = if w > 0.0 {
        ((x - coords[k]) / w).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (k, t)
}

/// A field on a rectilinear 3-D grid, values `[i][j][k]` flattened (k fastest), `dim` wide.
struct Field<'a> {
    axes: [&'a [f64]; 3],
    values: &'a [f64],
    dim: usize,
}

impl Field<'_> {
    fn at(&self, i: usize, j: usize, k: usize) -> &[f64] {
        let [_, a2, a3] = self.axes;
        let idx = (i * a2.len() + j) * a3.len() + k;
        &self.values[idx * self.dim..(idx + 1) * self.dim]
    }

    fn trilinear(&self, p: [f64; 3], out: &mut [f64]) {
        let (i, ti) = locate(self.axes[0], p[0]);
        let (j, tj) = locate(self.axes[1], p[1]);
        let (k, tk) = locate(self.axes[2], p[2]);
        out.iter_mut().for_each(|v| *v = 0.0);
        for (di, wi) in [(0, 1.0 - ti), (1, ti)] {
            for (dj, wj) in [(0, 1.0 - tj), (1, tj)] {
                for (dk, wk) in [(0, 1.0 - tk), (1, tk)] {
                    let w = wi * wj * wk;
                    if w == 0.0 {
                        continue;
                    }
                    for (o, v) in out.iter_mut().zip(self.at(i + di, j + dj, k + dk)) {
                        *o += w * v;
                    }
                }
            }
        }
    }
}

/// Adapts one group: `rows` is (m1 * m2 * m3) x `dim`, axis 1 slowest.
fn adapt_group(
    old: [Vec<f64>; 3],
    new: [Vec<f64>; 3],
    rows: &[f32],
    dim: usize,
    mode: AdaptMode,
) -> Vec<f32> {
    let m = [old[0].len() - 2, old[1].len() - 2, old[2].len() - 2];
    let l = [m[0] + 2, m[1] + 2, m[2] + 2];
    // Padded values, plain (a, b, c) order, axis 1 slowest.
    let mut padded = vec![0.0f64; l[0] * l[1] * l[2] * dim];
    for a in 0..l[0] {
        for b in 0..l[1] {
            for c in 0..l[2] {
                let src = ((a.clamp(1, m[0]) - 1) * m[1] + (b.clamp(1, m[1]) - 1)) * m[2]
                    + (c.clamp(1, m[2]) - 1);
                let dst = (a * l[1] + b) * l[2] + c;
                for e in 0..dim {
                    padded[dst * dim + e] = f64::from(rows[src * dim + e]);
                }
            }
        }
    }
    let mut out = vec![0f32; m[0] * m[1] * m[2] * dim];
    let mut buf = vec![0.0f64; dim];
    match mode {
        AdaptMode::Intended => {
            let field = Field {
                axes: [&old[0], &old[1], &old[2]],
                values: &padded,
                dim,
            };
            for a in 0..m[0] {
                for b in 0..m[1] {
                    for c in 0..m[2] {
                        field.trilinear([new[0][a + 1], new[1][b + 1], new[2][c + 1]], &mut buf);
                        let r = (a * m[1] + b) * m[2] + c;
                        for e in 0..dim {
                            out[r * dim + e] = buf[e] as f32;
                        }
                    }
                }
            }
        }
        AdaptMode::ReferenceCompatible => {
            // Value at flat position q pairs with meshgrid point q, whose coordinates are
            // (axis1[j], axis2[i], axis3[k]) for q = (i * l1 + j) * l3 + k. As a field on
            // the rectilinear grid (axis2, axis1, axis3) the value array is used as is.
            let field = Field {
                axes: [&old[1], &old[0], &old[2]],
                values: &padded,
                dim,
            };
            // Output at flat position q' (read back in plain order) is the value at new
            // point q' of the same meshgrid ordering.
            for a in 1..=m[0] {
                for b in 1..=m[1] {
                    for c in 1..=m[2] {
                        let q = (a * l[1] + b) * l[2] + c;
                        let (i, rest) = (q / (l[0] * l[2]), q % (l[0] * l[2]));
                        let (j, k) = (rest / l[2], rest % l[2]);
                        field.trilinear([new[1][i], new[0][j], new[2][k]], &mut buf);
                        let r = ((a - 1) * m[1] + (b - 1)) * m[2] + (c - 1);
                        for e in 0..dim {
                            out[r * dim + e] = buf[e] as f32;
                        }
                    }
                }
            }
        }
    }
    out
}

/// The meshgrid point order the reference pairs with the padded rows of a group: for flat
/// position `q = (i * l1 + j) * l3 + k` the point `(axis1[j], axis2[i], axis3[k])`.
pub fn reference_point_order(grid: &ActionGrid, rotation: bool) -> Result<Vec<[f64; 3]>> {
    let axes = if rotation {
        [Axis::Roll, Axis::Pitch, Axis::Yaw]
    } else {
        [Axis::Theta, Axis::Phi, Axis::R]
    };
    let c: Vec<Vec<f64>> = axes
        .iter()
        .map(|&a| normalized_centres(a, grid.edges(a)))
        .collect::<Result<_>>()?;
    let mut pts = Vec::with_capacity(c[0].len() * c[1].len() * c[2].len());
    for &y in &c[1] {
        for &x in &c[0] {
            for &z in &c[2] {
                pts.push([x, y, z]);
            }
        }
    }
    Ok(pts)
}

/// Adapts the whole action-embedding table (translation rows, rotation rows, 2 gripper
/// rows; `dim` floats each) from `old` to `new` grid. Both grids must have the same bin
/// counts.
pub fn adapt_embeddings(
    old: &ActionGrid,
    new: &ActionGrid,
    table: &[f32],
    dim: usize,
    mode: AdaptMode,
) -> Result<Vec<f32>> {
    let bins = old.bin_counts();
    if new.bin_counts() != bins {
        return Err(GridError::BadEdges {
            axis: "theta",
            what: "old and new grids have different bin counts".to_owned(),
        });
    }
    let (t, r) = (bins.translation_tokens(), bins.rotation_tokens());
    if dim == 0 || table.len() != (t + r + 2) * dim {
        return Err(GridError::BadEdges {
            axis: "theta",
            what: format!(
                "embedding table has {} values, expected ({t} + {r} + 2) x {dim}",
                table.len()
            ),
        });
    }
    let centres = |g: &ActionGrid, axes: [Axis; 3]| -> Result<[Vec<f64>; 3]> {
        Ok([
            normalized_centres(axes[0], g.edges(axes[0]))?,
            normalized_centres(axes[1], g.edges(axes[1]))?,
            normalized_centres(axes[2], g.edges(axes[2]))?,
        ])
    };
    let trans = [Axis::Theta, Axis::Phi, Axis::R];
    let rot = [Axis::Roll, Axis::Pitch, Axis::Yaw];
    let mut out = Vec::with_capacity(table.len());
    out.extend(adapt_group(
        centres(old, trans)?,
        centres(new, trans)?,
        &table[..t * dim],
        dim,
        mode,
    ));
    out.extend(adapt_group(
        centres(old, rot)?,
        centres(new, rot)?,
        &table[t * dim..(t + r) * dim],
        dim,
        mode,
    ));
    out.extend_from_slice(&table[(t + r) * dim..]);
    Ok(out)
}
