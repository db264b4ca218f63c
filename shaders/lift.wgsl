// Depth images lifted on the GPU, once per uploaded image: a compute pass, one invocation per
// depth pixel, writes the pixel's point for the point pipeline (points.wgsl) to draw every
// frame. It reads the depth as stored (u16 with a scale to metres, or f32 metres), marks
// invalid depth (0, negative, NaN, infinite) as a point of depth 0 (not drawn), lifts it with
// K^-1 exactly as geometry::backproject_depth does ((K^-1 [u v 1]^T) d, u and v integer pixel
// indices), moves it to the world with the camera's pose and records its RGB, camera and
// model patch, so every colour mode works as for points lifted on the CPU.
// Prefixed with point_struct.wgsl by the renderer.
// Keep in sync with src/render/lift.rs (LiftCameraGpu).

struct LiftCamera {
    world_from_camera: mat4x4<f32>,
    k_inv_row0: vec4<f32>,
    k_inv_row1: vec4<f32>,
    k_inv_row2: vec4<f32>,
    width_px: u32,
    height_px: u32,
    depth_u16: u32,       // 1: depth words hold two u16 (low half first), 0: f32 metres
    depth_scale_m: f32,   // metres per u16 unit
    camera: u32,          // camera index (camera-id colours)
    patches_per_side: u32, // > 0: the model camera, whose pixels know their model patch
    has_rgb: u32,         // 0: the RGB frame is missing or of another size
    fallback_rgb: u32,    // the colour then (RGBA8)
};

@group(0) @binding(0) var<uniform> cam: LiftCamera;
@group(0) @binding(1) var<storage, read> depth_words: array<u32>;
@group(0) @binding(2) var<storage, read> rgb_words: array<u32>; // RGB bytes, 3 per pixel, packed
@group(0) @binding(3) var<storage, read_write> points: array<Point>;

// Pixels per workgroup; the dispatch spreads workgroups over x and y (x at most 65535).
const WORKGROUP: u32 = 256u;

// Byte `i` of the packed RGB buffer.
fn rgb_byte(i: u32) -> u32 {
    return (rgb_words[i / 4u] >> ((i % 4u) * 8u)) & 0xFFu;
}

// Depth of `pixel` in metres; 0 when invalid (0, negative, NaN or infinite).
fn depth_m(pixel: u32) -> f32 {
    if (cam.depth_u16 == 1u) {
        let word = depth_words[pixel / 2u];
        let raw = (word >> ((pixel % 2u) * 16u)) & 0xFFFFu;
        return f32(raw) * cam.depth_scale_m;
    }
    let bits = depth_words[pixel];
    // Exponent all ones: infinite or NaN (checked on the bits; a NaN compare may be folded).
    if ((bits & 0x7F800000u) == 0x7F800000u) {
        return 0.0;
    }
    return max(bitcast<f32>(bits), 0.0);
}

@compute @workgroup_size(256)
fn cs_main(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
    let pixel = gid.y * groups.x * WORKGROUP + gid.x;
    if (pixel >= cam.width_px * cam.height_px) {
        return;
    }
    var p: Point;
    let d = depth_m(pixel);
    if (!(d > 0.0)) {
        p.depth_m = 0.0;
        points[pixel] = p;
        return;
    }
    let px = pixel % cam.width_px;
    let py = pixel / cam.width_px;
    let uv1 = vec3<f32>(f32(px), f32(py), 1.0);
    let c = vec3<f32>(
        dot(cam.k_inv_row0.xyz, uv1) * d,
        dot(cam.k_inv_row1.xyz, uv1) * d,
        dot(cam.k_inv_row2.xyz, uv1) * d,
    );
    p.position = (cam.world_from_camera * vec4<f32>(c, 1.0)).xyz;
    p.depth_m = c.z;
    p.cam_xy = c.xy;
    p.rgb = cam.fallback_rgb;
    if (cam.has_rgb == 1u) {
        let o = pixel * 3u;
        p.rgb = rgb_byte(o) | (rgb_byte(o + 1u) << 8u) | (rgb_byte(o + 2u) << 16u) | 0xFF000000u;
    }
    var patch_id = 0u;
    if (cam.patches_per_side > 0u) {
        let n = cam.patches_per_side;
        patch_id = 1u + (py * n / cam.height_px) * n + px * n / cam.width_px;
    }
    p.camera = (cam.camera & 0xFFFFu) | (patch_id << 16u);
    points[pixel] = p;
}
