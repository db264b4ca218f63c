//! Translation in spherical coordinates (spec 2.3), with IEEE `atan2` semantics so signed
//! zeros land where the reference puts them.
//!
//! `theta` is the polar angle from +z in [0, pi] (16 bins), `phi` the azimuth from +x
//! towards +y in [-pi, pi] (32 bins), `r` the norm in [0, sqrt 3].

/// A translation in spherical coordinates (normalised action units, radians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spherical {
    pub theta_rad: f64,
    pub phi_rad: f64,
    pub r: f64,
}

/// Cartesian (x, y, z) -> spherical.
pub fn spherical_from_cartesian(xyz: [f64; 3]) -> Spherical {
    let [x, y, z] = xyz;
    Spherical {
        theta_rad: (x * x + y * y).sqrt().atan2(z),
        phi_rad: y.atan2(x),
        r: (x * x + y * y + z * z).sqrt(),
    }
}

/// Spherical -> Cartesian (x, y, z).
pub fn cartesian_from_spherical(s: Spherical) -> [f64; 3] {
    let (st, ct) = s.theta_rad.sin_cos();
    let (sp, cp) = s.phi_rad.sin_cos();
    [s.r * st * cp, s.r * st * sp, s.r * ct]
}
