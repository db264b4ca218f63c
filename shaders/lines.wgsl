// Lines (camera frustums, axes, ground grid, trajectories, action arrows): each segment is a
// screen-space quad of constant pixel width, expanded from a storage buffer in the vertex
// shader (6 vertices per segment), depth-tested with the points in spatialscope's targets.
// Keep in sync with src/render/lines.rs (LineGpu) and gpu_types.rs (PointUniforms).

struct Segment {
    a: vec3<f32>,
    rgba: u32,      // RGBA8, R in the low byte
    b: vec3<f32>,
    width_px: f32,
};

struct Uniforms {
    view_proj: mat4x4<f32>,
    viewport_px: vec2<f32>,
    point_size_px: f32,
    color_mode: u32,
    height_range: vec2<f32>,
    depth_range: vec2<f32>,
    ego3d_channel: u32,
    attention_scale: f32,
    point_size_m: f32,   // > 0: disc diameter in metres instead of pixels
    focal_px: f32,
};

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> segments: array<Segment>;

struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> VsOut {
    let s = segments[vi / 6u];
    let k = vi % 6u;
    var along = array<f32, 6>(0.0, 1.0, 1.0, 0.0, 1.0, 0.0);
    var side = array<f32, 6>(-1.0, -1.0, 1.0, -1.0, 1.0, 1.0);
    let ca = u.view_proj * vec4<f32>(s.a, 1.0);
    let cb = u.view_proj * vec4<f32>(s.b, 1.0);
    var out: VsOut;
    out.color = unpack4x8unorm(s.rgba);
    if (ca.w <= 1e-4 || cb.w <= 1e-4) {
        // Behind the eye: drop the segment (outside the clip volume).
        out.clip = vec4<f32>(0.0, 0.0, 2.0, 1.0);
        return out;
    }
    let dir_px = (cb.xy / cb.w - ca.xy / ca.w) * u.viewport_px * 0.5;
    var n = vec2<f32>(-dir_px.y, dir_px.x);
    let len = length(n);
    if (len < 1e-6) {
        n = vec2<f32>(0.0, 1.0);
    } else {
        n = n / len;
    }
    // Half the width on each side, in NDC units (2 / viewport per pixel).
    let offset = n * s.width_px / u.viewport_px * side[k];
    var c = ca;
    if (along[k] > 0.5) {
        c = cb;
    }
    out.clip = vec4<f32>(c.xy + offset * c.w, c.z, c.w);
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    return vec4<f32>(in.color.rgb, 1.0);
}
