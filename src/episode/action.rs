//! Actions (N x 7) with an explicit convention, proprioception and their statistics.

/// Units and meaning of translation in the first three action dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranslationUnit {
    /// Metres per control step.
    MetresDelta,
    /// Dimensionless, as stored (unknown scale).
    AsStored,
}

/// Meaning of dimensions 3..6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationConvention {
    /// Delta roll, pitch, yaw in radians, `R = Rz(yaw) Ry(pitch) Rx(roll)`.
    DeltaRollPitchYawRad,
    /// Dimensionless, as stored.
    AsStored,
}

/// What the gripper value (dimension 6) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GripperSense {
    /// 1 = open, 0 = closed (Bridge, SpatialVLA).
    OneIsOpen,
    /// Unknown sense, as stored.
    AsStored,
}

/// The frame the deltas are expressed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFrame {
    /// The robot base frame.
    RobotBase,
    /// The world frame (here, the base axes equal the world axes).
    World,
    /// Not known.
    Unknown,
}

/// Everything needed to read a 7-D action correctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionConvention {
    pub translation: TranslationUnit,
    pub rotation: RotationConvention,
    pub gripper: GripperSense,
    pub frame: ActionFrame,
}

impl ActionConvention {
    /// `[dx, dy, dz (m), droll, dpitch, dyaw (rad), gripper 1 = open]` in the robot base
    /// frame: Bridge and the SpatialVLA action space.
    pub fn metric_delta_base() -> Self {
        Self {
            translation: TranslationUnit::MetresDelta,
            rotation: RotationConvention::DeltaRollPitchYawRad,
            gripper: GripperSense::OneIsOpen,
            frame: ActionFrame::RobotBase,
        }
    }

    /// Nothing known: the numbers are shown as stored.
    pub fn unknown() -> Self {
        Self {
            translation: TranslationUnit::AsStored,
            rotation: RotationConvention::AsStored,
            gripper: GripperSense::AsStored,
            frame: ActionFrame::Unknown,
        }
    }

    /// Names with units for the 7 dimensions, for plot titles and tables.
    pub fn dimension_labels(&self) -> [String; 7] {
        let t = match self.translation {
            TranslationUnit::MetresDelta => " (m)",
            TranslationUnit::AsStored => "",
        };
        let r = match self.rotation {
            RotationConvention::DeltaRollPitchYawRad => " (rad)",
            RotationConvention::AsStored => "",
        };
        let g = match self.gripper {
            GripperSense::OneIsOpen => " (1 = open)",
            GripperSense::AsStored => "",
        };
        let (t0, t1, t2, r0, r1, r2) = match self.rotation {
            RotationConvention::DeltaRollPitchYawRad => {
                ("dx", "dy", "dz", "droll", "dpitch", "dyaw")
            }
            RotationConvention::AsStored => ("a0", "a1", "a2", "a3", "a4", "a5"),
        };
        [
            format!("{t0}{t}"),
            format!("{t1}{t}"),
            format!("{t2}{t}"),
            format!("{r0}{r}"),
            format!("{r1}{r}"),
            format!("{r2}{r}"),
            format!("gripper{g}"),
        ]
    }

    /// One line for the UI and `inspect`.
    pub fn describe(&self) -> String {
        let t = match self.translation {
            TranslationUnit::MetresDelta => "translation: delta metres",
            TranslationUnit::AsStored => "translation: as stored",
        };
        let r = match self.rotation {
            RotationConvention::DeltaRollPitchYawRad => "rotation: delta roll/pitch/yaw rad",
            RotationConvention::AsStored => "rotation: as stored",
        };
        let g = match self.gripper {
            GripperSense::OneIsOpen => "gripper: 1 = open, 0 = closed",
            GripperSense::AsStored => "gripper: as stored",
        };
        let f = match self.frame {
            ActionFrame::RobotBase => "frame: robot base",
            ActionFrame::World => "frame: world",
            ActionFrame::Unknown => "frame: unknown",
        };
        format!("{t}; {r}; {g}; {f}")
    }
}

/// The N x 7 action sequence of an episode; action `i` is applied after observing step `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Actions {
    pub convention: ActionConvention,
    pub values: Vec<[f32; 7]>,
}

/// Optional proprioceptive state, N x D with named dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Proprio {
    /// One name (with unit where known) per dimension.
    pub names: Vec<String>,
    /// `values[step][dim]`.
    pub values: Vec<Vec<f32>>,
}

/// Summary statistics of one dimension over a sequence.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DimStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
}

impl DimStats {
    /// Statistics over finite values; `None` for an empty input.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut n = 0usize;
        let (mut min, mut max, mut sum, mut sum_sq) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            n += 1;
            min = min.min(v);
            max = max.max(v);
            sum += v;
            sum_sq += v * v;
        }
        if n == 0 {
            return None;
        }
        let mean = sum / n as f64;
        let var = (sum_sq / n as f64 - mean * mean).max(0.0);
        Some(Self {
            min,
            max,
            mean,
            std: var.sqrt(),
        })
    }
}

impl Actions {
    /// Per-dimension statistics (7 entries; `None` for an empty episode).
    pub fn stats(&self) -> Vec<Option<DimStats>> {
        (0..7)
            .map(|d| DimStats::of(self.values.iter().map(|a| f64::from(a[d]))))
            .collect()
    }
}

/// Action statistics a dataset ships with (LeRobot `meta/stats.json`), shown beside the ones
/// computed from the data; per dimension, `q01`/`q99` only where the file has them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeclaredStats {
    /// The file they come from.
    pub source: std::path::PathBuf,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub q01: Option<Vec<f64>>,
    pub q99: Option<Vec<f64>>,
}

impl DeclaredStats {
    /// Reads `feature`'s statistics from a LeRobot-style JSON object
    /// (`{feature: {min: [...], max: [...], mean, std, q01?, q99?}}`); `None` when absent or
    /// malformed (the statistics are informative, never required).
    pub fn from_json(
        source: &std::path::Path,
        v: &serde_json::Value,
        feature: &str,
    ) -> Option<Self> {
        let f = v.get(feature)?;
        let list = |k: &str| -> Option<Vec<f64>> {
            f.get(k)?
                .as_array()?
                .iter()
                .map(|x| x.as_f64().or_else(|| x.as_array()?.first()?.as_f64()))
                .collect()
        };
        let (min, max, mean, std) = (list("min")?, list("max")?, list("mean")?, list("std")?);
        let n = min.len();
        if n == 0 || [max.len(), mean.len(), std.len()].iter().any(|l| *l != n) {
            return None;
        }
        let same = |o: Option<Vec<f64>>| o.filter(|x| x.len() == n);
        Some(Self {
            source: source.to_owned(),
            min,
            max,
            mean,
            std,
            q01: same(list("q01")),
            q99: same(list("q99")),
        })
    }
}
