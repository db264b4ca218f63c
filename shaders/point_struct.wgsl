// One point as the point pipeline draws it (32 bytes), shared by points.wgsl (which reads
// points lifted on the CPU or by lift.wgsl) and lift.wgsl (which writes them). Prepended to
// both by the renderer. Keep in sync with src/render/gpu_types.rs (PointGpu).

struct Point {
    position: vec3<f32>,
    rgb: u32,       // RGBA8, R in the low byte
    depth_m: f32,   // depth along the camera's optical axis; 0: no point (an invalid pixel)
    camera: u32,    // source camera in the low 16 bits, 1 + model patch index in the high 16 (0: none)
    cam_xy: vec2<f32>, // camera-frame x, y (metres); with depth_m the point as its camera saw it
};
