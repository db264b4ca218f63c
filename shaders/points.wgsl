// Points lifted on the CPU: each point is a screen-aligned disc, expanded from a storage
// buffer in the vertex shader (6 vertices per point), depth-tested into spatialscope's own
// targets. Prefixed with point_shading.wgsl by the renderer.
// Keep in sync with src/render/gpu_types.rs (PointGpu).

struct Point {
    position: vec3<f32>,
    rgb: u32,       // RGBA8, R in the low byte
    depth_m: f32,   // depth along the camera's optical axis
    camera: u32,    // source camera in the low 16 bits, 1 + model patch index in the high 16 (0: none)
    cam_xy: vec2<f32>, // camera-frame x, y (metres); with depth_m the point as its camera saw it
};

@group(0) @binding(1) var<storage, read> points: array<Point>;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> VsOut {
    let p = points[vi / 6u];
    let cam = vec3<f32>(p.cam_xy, p.depth_m);
    let color = point_color(p.position, cam, p.rgb, p.camera & 0xFFFFu, p.camera >> 16u);
    return disc_corner(p.position, vi, color);
}
