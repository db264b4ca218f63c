// Points: each point is a screen-aligned disc, expanded from a storage buffer in the vertex
// shader (6 vertices per point), depth-tested into spatialscope's own targets. The buffer
// holds points lifted on the CPU, or lifted from a depth image by lift.wgsl on the GPU (where
// an invalid pixel is a point of depth 0, clipped here). Prefixed with point_struct.wgsl by
// the renderer. Keep in sync with src/render/gpu_types.rs (PointUniforms).

struct Uniforms {
    view_proj: mat4x4<f32>,
    viewport_px: vec2<f32>,
    point_size_px: f32,
    color_mode: u32,     // 0 RGB, 1 depth, 2 height, 3 camera id, 4 Ego3D channel, 5 attention, 6 patch colours
    height_range: vec2<f32>,
    depth_range: vec2<f32>,
    ego3d_channel: u32,  // axis * 17 + j: j 0 the centred value, 1..8 sin(2^k v'), 9..16 cos
    attention_scale: f32,
    point_size_m: f32,   // > 0: disc diameter in metres instead of pixels
    focal_px: f32,
};

@group(0) @binding(0) var<uniform> u: Uniforms;
// Per model patch: an attention weight (f32 bits) in mode 5, a packed RGBA8 colour in mode 6.
@group(0) @binding(2) var<storage, read> patch_values: array<u32>;
@group(0) @binding(1) var<storage, read> points: array<Point>;

struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec3<f32>,
    @location(1) corner: vec2<f32>,
};

// Turbo colour map, degree-5 polynomial fit (same as src/render/colormap.rs).
fn turbo(t_in: f32) -> vec3<f32> {
    let x = clamp(t_in, 0.0, 1.0);
    let v4 = vec4<f32>(1.0, x, x * x, x * x * x);
    let v2 = v4.zw * v4.z;
    return clamp(vec3<f32>(
        dot(v4, vec4<f32>(0.13572138, 4.6153926, -42.66032, 132.13108)) + dot(v2, vec2<f32>(-152.94239, 59.28638)),
        dot(v4, vec4<f32>(0.09140261, 2.1941884, 4.8429666, -14.185033)) + dot(v2, vec2<f32>(4.2772986, 2.829566)),
        dot(v4, vec4<f32>(0.1066733, 12.641946, -60.58205, 110.36277)) + dot(v2, vec2<f32>(-89.90311, 27.34825)),
    ), vec3<f32>(0.0), vec3<f32>(1.0));
}

fn camera_color(i: u32) -> vec3<f32> {
    var palette = array<vec3<f32>, 6>(
        vec3<f32>(0.95, 0.45, 0.35), vec3<f32>(0.35, 0.75, 0.95), vec3<f32>(0.55, 0.9, 0.4),
        vec3<f32>(0.95, 0.8, 0.3), vec3<f32>(0.8, 0.5, 0.95), vec3<f32>(0.9, 0.9, 0.9),
    );
    return palette[i % 6u];
}

// One feature of SpatialVLA's Ego3D encoding (spec 5.5) of a camera-frame point: v' = (v - c) / 2
// with c = (0, 0, 2) m, then v', sin(2^k v') or cos(2^k v'). In [-1, 1].
fn ego3d_feature(xyz: vec3<f32>) -> f32 {
    let axis = min(u.ego3d_channel / 17u, 2u);
    let j = u.ego3d_channel % 17u;
    let centre = vec3<f32>(0.0, 0.0, 2.0);
    let v = (xyz[axis] - centre[axis]) / 2.0;
    if (j == 0u) {
        return v;
    }
    if (j <= 8u) {
        return sin(exp2(f32(j - 1u)) * v);
    }
    return cos(exp2(f32(j - 9u)) * v);
}

// The colour of a point under the view's colour mode. `world`: its drawn position (height
// mode), `cam`: the point in its camera's frame (depth, Ego3D), `patch_id`: 1 + the model
// patch it falls in (0: none).
fn point_color(world: vec3<f32>, cam: vec3<f32>, rgb: u32, camera: u32, patch_id: u32) -> vec3<f32> {
    if (u.color_mode == 1u) {
        return turbo((cam.z - u.depth_range.x) / max(u.depth_range.y - u.depth_range.x, 1e-6));
    } else if (u.color_mode == 2u) {
        return turbo((world.z - u.height_range.x) / max(u.height_range.y - u.height_range.x, 1e-6));
    } else if (u.color_mode == 3u) {
        return camera_color(camera);
    } else if (u.color_mode == 4u) {
        return turbo(ego3d_feature(cam) * 0.5 + 0.5);
    } else if (u.color_mode == 5u || u.color_mode == 6u) {
        if (patch_id == 0u || patch_id > arrayLength(&patch_values)) {
            return vec3<f32>(0.25, 0.25, 0.28);
        }
        let value = patch_values[patch_id - 1u];
        if (u.color_mode == 5u) {
            return turbo(bitcast<f32>(value) * u.attention_scale);
        }
        return unpack4x8unorm(value).rgb;
    }
    return unpack4x8unorm(rgb).rgb;
}

// Corner `vi % 6` of the screen-aligned disc around `world` (6 vertices per point), its size
// times `scale` (0: a disc of no area, not drawn).
fn disc_corner(world: vec3<f32>, vi: u32, color: vec3<f32>, scale: f32) -> VsOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, 1.0), vec2<f32>(-1.0, 1.0),
    );
    let c = corners[vi % 6u] * scale;
    var clip = u.view_proj * vec4<f32>(world, 1.0);
    var size_px = u.point_size_px;
    if (u.point_size_m > 0.0) {
        size_px = max(u.point_size_m * u.focal_px / max(clip.w, 1e-4), 1.0);
    }
    clip.x = clip.x + c.x * size_px / u.viewport_px.x * clip.w;
    clip.y = clip.y + c.y * size_px / u.viewport_px.y * clip.w;
    var out: VsOut;
    out.clip = clip;
    out.color = color;
    out.corner = c;
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    if (dot(in.corner, in.corner) > 1.0) {
        discard;
    }
    return vec4<f32>(in.color, 1.0);
}

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> VsOut {
    let p = points[vi / 6u];
    let cam = vec3<f32>(p.cam_xy, p.depth_m);
    let color = point_color(p.position, cam, p.rgb, p.camera & 0xFFFFu, p.camera >> 16u);
    // A point of depth 0 (an invalid pixel) becomes a disc of no area, which the rasteriser
    // drops. (Moving it out of the depth range instead, by a branch or a select, made every
    // frame 3.5x slower on lavapipe.)
    let scale = select(0.0, 1.0, p.depth_m > 0.0);
    return disc_corner(p.position, vi, color, scale);
}
