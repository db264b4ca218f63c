//! Cameras: image size, pinhole intrinsics (with where they came from) and poses.
//!
//! Poses are always `world_from_camera` (camera-to-world, `p_world = T * [p_camera, 1]`)
//! in the **OpenCV** camera axes (x right, y down, z forward). Formats that store another
//! axis convention (MuJoCo/OpenGL: x right, y up, looking along -z) convert on load with
//! [`opencv_from_opengl`] so the rest of the program never has to ask.

use nalgebra::{Matrix3, Matrix4};

/// Pinhole intrinsics in pixels for an image of `width` x `height`, OpenCV pixel-centre
/// convention (integer pixel (u, v) = (column, row) is the centre of that pixel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intrinsics {
    pub fx_px: f64,
    pub fy_px: f64,
    pub cx_px: f64,
    pub cy_px: f64,
    /// Image width the numbers refer to, in pixels.
    pub width_px: u32,
    /// Image height the numbers refer to, in pixels.
    pub height_px: u32,
}

impl Intrinsics {
    /// From a row-major 3x3 K.
    pub fn from_k(k: &[[f64; 3]; 3], width_px: u32, height_px: u32) -> Self {
        Self {
            fx_px: k[0][0],
            fy_px: k[1][1],
            cx_px: k[0][2],
            cy_px: k[1][2],
            width_px,
            height_px,
        }
    }

    /// The 3x3 matrix K.
    pub fn k(&self) -> Matrix3<f64> {
        Matrix3::new(
            self.fx_px, 0.0, self.cx_px, 0.0, self.fy_px, self.cy_px, 0.0, 0.0, 1.0,
        )
    }

    /// The same camera for an image resized (possibly non-uniformly) to `width_px` x
    /// `height_px`: x terms scale by the width ratio, y terms by the height ratio. This is
    /// the rule SpatialVLA and SimplerEnv use for their nominal tables.
    pub fn scaled_to(&self, width_px: u32, height_px: u32) -> Self {
        let sx = f64::from(width_px) / f64::from(self.width_px);
        let sy = f64::from(height_px) / f64::from(self.height_px);
        Self {
            fx_px: self.fx_px * sx,
            fy_px: self.fy_px * sy,
            cx_px: self.cx_px * sx,
            cy_px: self.cy_px * sy,
            width_px,
            height_px,
        }
    }

    /// All four numbers finite and the focal lengths positive.
    pub fn is_valid(&self) -> bool {
        [self.fx_px, self.fy_px, self.cx_px, self.cy_px]
            .iter()
            .all(|v| v.is_finite())
            && self.fx_px > 0.0
            && self.fy_px > 0.0
    }
}

/// Where a camera's intrinsics came from. The app always shows this next to the numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum CalibrationOrigin {
    /// Stored with the episode (calibrated or exact, e.g. from the simulator).
    File,
    /// Nominal values from a per-dataset table (datasets such as Bridge ship none); `key` is
    /// the table entry used, scaled from its native resolution to the image size.
    DatasetTable { key: String },
    /// Not known.
    None,
}

impl CalibrationOrigin {
    /// `File` when the dataset gave intrinsics, else `None`.
    pub fn file_if(present: bool) -> Self {
        if present { Self::File } else { Self::None }
    }

    /// Short label: "file", "dataset table (nominal: KEY)" or "none".
    pub fn label(&self) -> String {
        match self {
            Self::File => "file".to_owned(),
            Self::DatasetTable { key } => format!("dataset table (nominal: {key})"),
            Self::None => "none".to_owned(),
        }
    }

    /// Short machine name for JSON: "file", "dataset_table" or "none".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File => "file",
            Self::DatasetTable { .. } => "dataset_table",
            Self::None => "none",
        }
    }
}

/// Camera pose over the episode, `world_from_camera` in OpenCV axes (x right, y down,
/// z forward), metres.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraPoses {
    /// No extrinsics known.
    Unknown,
    /// A fixed camera.
    Static(Matrix4<f64>),
    /// One pose per step (wrist cameras).
    PerStep(Vec<Matrix4<f64>>),
}

impl CameraPoses {
    /// `world_from_camera` (OpenCV axes) at `step`, if known. Per-step poses clamp to the
    /// last one past the end.
    pub fn world_from_camera(&self, step: usize) -> Option<&Matrix4<f64>> {
        match self {
            Self::Unknown => None,
            Self::Static(m) => Some(m),
            Self::PerStep(v) => v.get(step.min(v.len().saturating_sub(1))),
        }
    }
}

/// Converts a `world_from_camera` given in OpenGL/MuJoCo camera axes (x right, y up,
/// looking along -z) to OpenCV axes (x right, y down, z forward): right-multiply by
/// diag(1, -1, -1, 1).
pub fn opencv_from_opengl(world_from_camera_opengl: &Matrix4<f64>) -> Matrix4<f64> {
    world_from_camera_opengl * Matrix4::from_diagonal(&nalgebra::Vector4::new(1.0, -1.0, -1.0, 1.0))
}

/// One camera stream of an episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Name as in the dataset (`agentview`, `image_0`, ...).
    pub name: String,
    pub width_px: u32,
    pub height_px: u32,
    pub intrinsics: Option<Intrinsics>,
    pub intrinsics_source: CalibrationOrigin,
    pub poses: CameraPoses,
    /// Whether a depth image exists for this camera.
    pub has_depth: bool,
    /// The stream holds only black frames: a placeholder for a camera the robot did not have
    /// (Bridge's `image_3`). Flagged, never hidden.
    pub placeholder: bool,
}
