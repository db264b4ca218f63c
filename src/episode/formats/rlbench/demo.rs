//! The pickled `rlbench.demo.Demo` as typed steps.
//!
//! A demo is an object whose `_observations` attribute lists `Observation`s (a plain list
//! is accepted too). Of each observation this reads the gripper pose (`[x, y, z, qx, qy, qz,
//! qw]`, world frame), whether the gripper is open, the arm's joint positions, and from its
//! `misc` dictionary each camera's `<cam>_camera_extrinsics` (4x4), `_intrinsics` (3x3),
//! `_near` and `_far` (metres), as PyRep's `VisionSensor` reported them. Anything missing is
//! `None`; anything present with the wrong shape or type is an error naming the step and
//! the field.

use nalgebra::Matrix4;

use crate::util::pickle::Value;

/// What a camera's sensor reported at one step (PyRep conventions, see the module docs of
/// [`super`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensorAtStep {
    pub extrinsics: Option<Matrix4<f64>>,
    pub intrinsics: Option<[[f64; 3]; 3]>,
    pub near_m: Option<f64>,
    pub far_m: Option<f64>,
}

/// One observation's low-dimensional data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoStep {
    pub gripper_pose: Option<[f64; 7]>,
    pub gripper_open: Option<f64>,
    pub joint_positions: Option<Vec<f64>>,
    /// By camera name (`front`), in the order of the episode's cameras.
    pub sensors: Vec<SensorAtStep>,
}

/// Most observations one demo may hold.
const MAX_STEPS: usize = 1_000_000;

fn numbers(v: &Value, want: Option<usize>, what: &str) -> Result<Vec<f64>, String> {
    let values = if let Some(a) = v.as_array() {
        a.to_f64()?
    } else if let Some(items) = v.as_seq() {
        items
            .iter()
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| format!("`{what}` holds {}", x.kind()))
            })
            .collect::<Result<_, _>>()?
    } else if let Some(x) = v.as_f64() {
        vec![x]
    } else {
        return Err(format!("`{what}` is {}, expected numbers", v.kind()));
    };
    if let Some(n) = want
        && values.len() != n
    {
        return Err(format!(
            "`{what}` has {} values, expected {n}",
            values.len()
        ));
    }
    if values.iter().any(|x| !x.is_finite()) {
        return Err(format!("`{what}` holds a non-finite value"));
    }
    Ok(values)
}

fn present<'a>(obs: &'a Value, key: &str) -> Option<&'a Value> {
    obs.get(key).filter(|v| !v.is_none())
}

fn sensor(misc: Option<&Value>, camera: &str) -> Result<SensorAtStep, String> {
    let Some(misc) = misc else {
        return Ok(SensorAtStep::default());
    };
    let key = |suffix: &str| format!("{camera}_camera_{suffix}");
    let field = |suffix: &str| present(misc, &key(suffix));
    let extrinsics = field("extrinsics")
        .map(|v| numbers(v, Some(16), &format!("misc.{}", key("extrinsics"))))
        .transpose()?
        .map(|m| Matrix4::from_fn(|r, c| m[r * 4 + c]));
    let intrinsics = field("intrinsics")
        .map(|v| numbers(v, Some(9), &format!("misc.{}", key("intrinsics"))))
        .transpose()?
        .map(|m| [[m[0], m[1], m[2]], [m[3], m[4], m[5]], [m[6], m[7], m[8]]]);
    let scalar = |suffix: &str| -> Result<Option<f64>, String> {
        field(suffix)
            .map(|v| numbers(v, Some(1), &format!("misc.{}", key(suffix))).map(|x| x[0]))
            .transpose()
    };
    Ok(SensorAtStep {
        extrinsics,
        intrinsics,
        near_m: scalar("near")?,
        far_m: scalar("far")?,
    })
}

/// Reads the demo's observations for `cameras`.
pub fn read_demo(root: &Value, cameras: &[String]) -> Result<Vec<DemoStep>, String> {
    let list = match root.get("_observations") {
        Some(v) => v,
        None if root.as_seq().is_some() => root,
        None => {
            return Err(format!(
                "expected an rlbench.demo.Demo with `_observations`, found {}",
                root.kind()
            ));
        }
    };
    let observations = list
        .as_seq()
        .ok_or_else(|| format!("`_observations` is {}, expected a list", list.kind()))?;
    if observations.len() > MAX_STEPS {
        return Err(format!(
            "{} observations, more than {MAX_STEPS}",
            observations.len()
        ));
    }
    observations
        .iter()
        .enumerate()
        .map(|(i, obs)| read_step(obs, cameras).map_err(|e| format!("observation {i}: {e}")))
        .collect()
}

fn read_step(obs: &Value, cameras: &[String]) -> Result<DemoStep, String> {
    if !matches!(obs, Value::Object(_) | Value::Dict(_)) {
        return Err(format!("is {}, expected an Observation", obs.kind()));
    }
    let gripper_pose = present(obs, "gripper_pose")
        .map(|v| numbers(v, Some(7), "gripper_pose"))
        .transpose()?
        .map(|p| [p[0], p[1], p[2], p[3], p[4], p[5], p[6]]);
    let gripper_open = present(obs, "gripper_open")
        .map(|v| numbers(v, Some(1), "gripper_open").map(|x| x[0]))
        .transpose()?;
    let joint_positions = present(obs, "joint_positions")
        .map(|v| numbers(v, None, "joint_positions"))
        .transpose()?;
    let misc = present(obs, "misc");
    let sensors = cameras
        .iter()
        .map(|c| sensor(misc, c))
        .collect::<Result<_, _>>()?;
    Ok(DemoStep {
        gripper_pose,
        gripper_open,
        joint_positions,
        sensors,
    })
}

/// The instruction variants in a `variation_descriptions.pkl` (a list of strings).
pub fn read_descriptions(root: &Value) -> Result<Vec<String>, String> {
    let items = root
        .as_seq()
        .ok_or_else(|| format!("is {}, expected a list of strings", root.kind()))?;
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("holds {}, expected strings", v.kind()))
        })
        .collect()
}
