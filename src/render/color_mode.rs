//! How the 3-D view colours its points: one enum for the app, the offscreen renderer and the
//! command line, mapped to the shader's `color_mode` index in one place.

/// How points are coloured (the shader's `color_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColorMode {
    Rgb,
    Depth,
    Height,
    Camera,
    /// One feature of the Ego3D sinusoidal encoding of each point (chosen by index).
    Ego3dChannel,
    /// The model's attention of the selected token, per image patch (model camera only).
    Attention,
    /// A colour per image patch from the Features panel (feature PCA or Spatial Forcing's
    /// cosine; model camera only).
    PatchColours,
}

impl ColorMode {
    /// Every mode, in menu order.
    pub const ALL: [ColorMode; 7] = [
        ColorMode::Rgb,
        ColorMode::Depth,
        ColorMode::Height,
        ColorMode::Camera,
        ColorMode::Ego3dChannel,
        ColorMode::Attention,
        ColorMode::PatchColours,
    ];

    /// What the menu shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rgb => "RGB",
            Self::Depth => "depth (turbo)",
            Self::Height => "height (turbo)",
            Self::Camera => "camera id",
            Self::Ego3dChannel => "Ego3D encoding channel",
            Self::Attention => "model attention",
            Self::PatchColours => "patch features (Features panel)",
        }
    }

    /// The shader's `color_mode` (keep in sync with `shaders/points.wgsl`).
    pub fn shader_index(self) -> u32 {
        match self {
            Self::Rgb => 0,
            Self::Depth => 1,
            Self::Height => 2,
            Self::Camera => 3,
            Self::Ego3dChannel => 4,
            Self::Attention => 5,
            Self::PatchColours => 6,
        }
    }

    /// The command-line name (`--color`); the modes that need a model run have none.
    pub fn cli_name(self) -> Option<&'static str> {
        match self {
            Self::Rgb => Some("rgb"),
            Self::Depth => Some("depth"),
            Self::Height => Some("height"),
            Self::Camera => Some("camera"),
            Self::Ego3dChannel | Self::Attention | Self::PatchColours => None,
        }
    }

    /// The mode of a command-line name.
    pub fn from_cli_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.cli_name() == Some(name))
    }
}
